"""Edge cases of estimate_all: reproducible bootstraps, constant forecasts, numeric extremes."""

import pandas as pd

from tests.estimates.test_stats import make_tasks, row
from uplift.estimates.stats import estimate_all


def one_team_one_month(**kwargs):
    return make_tasks(
        8, 12, seed=5, teams=("core",), months=("2025-04",), task_types=("bugfix",), **kwargs
    )


def test_one_team_in_one_month_has_the_same_paired_interval_on_every_row():
    result = estimate_all(one_team_one_month(), bootstrap_resamples=400)
    scopes = [("overall", None), ("team", "core"), ("month", "2025-04"), ("task_type", "bugfix")]
    paired = [row(result, *scope)["paired"] for scope in scopes]
    assert paired[0]["ci_low"] < paired[0]["time_change"] < paired[0]["ci_high"]
    assert all(p == paired[0] for p in paired[1:])


def test_paired_interval_depends_on_the_data_not_on_other_scopes_or_the_run():
    core = one_team_one_month()
    other = make_tasks(5, 12, seed=6, teams=("infra",), months=("2025-04",), id_offset=10_000)
    other["researcher"] += 100
    alone = estimate_all(core, bootstrap_resamples=400)

    beside = estimate_all(pd.concat([core, other], ignore_index=True), bootstrap_resamples=400)
    assert row(beside, "team", "core")["paired"] == row(alone, "overall")["paired"]
    assert estimate_all(core, bootstrap_resamples=400) == alone
