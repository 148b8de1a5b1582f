"""RowCache: rows shared between the slices of one refresh keep their figures."""

import math

import numpy as np

from bench.estimates_stats import generate_tasks
from uplift.estimates.stats import RowCache, estimate_all
from uplift.estimates.vocabulary import Dimension


def assert_close(actual, expected, path="row"):
    if isinstance(expected, dict):
        assert sorted(actual) == sorted(expected), path
        for key in expected:
            assert_close(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, f"{path}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        # Rounding only: a slice sums over a different number of empty researcher codes.
        assert math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-15), (path, actual)
    else:
        assert actual == expected, (path, actual, expected)


def slices():
    tasks = generate_tasks(3000, n_researchers=40, n_teams=3, n_task_types=4, n_months=6, seed=11)
    months = sorted(tasks["month"].dropna().unique())
    # The organisation, each team, and each team's last three months of completions (a stand-in
    # for a date range: most of its month rows are the team's own).
    out = [tasks]
    for team in sorted(tasks["team"].unique()):
        subset = tasks[tasks["team"] == team]
        out += [subset, subset[subset["month"].isin(months[-3:]) | subset["month"].isna()]]
    return out


def test_cached_rows_equal_the_rows_computed_afresh():
    cache = RowCache()
    with_cache = [estimate_all(s, cache=cache) for s in slices()]
    without = [estimate_all(s) for s in slices()]
    assert_close(with_cache, without)
    # Each team's overall and team rows are the organisation's team row; in its date range the
    # team row is the range's overall row and the three month rows are the team's own:
    # 3 teams x (2 + 1 + 3).
    assert cache.hits == 18


def test_a_copied_row_is_labelled_by_its_own_slice_and_stays_independent():
    tasks = generate_tasks(1200, n_researchers=20, n_teams=2, n_task_types=3, n_months=4, seed=12)
    cache = RowCache()
    organisation = estimate_all(tasks, cache=cache)
    team = sorted(tasks["team"].unique())[0]
    own = estimate_all(tasks[tasks["team"] == team], cache=cache)
    org_team_row = next(
        r for r in organisation["estimates"] if r["dimension"] == "team" and r["group"] == team
    )
    overall, team_row = (
        next(r for r in own["estimates"] if r["dimension"] == d)
        for d in (Dimension.OVERALL.value, Dimension.TEAM.value)
    )
    assert overall["group"] is None and team_row["group"] == team
    assert overall["beta"] == org_team_row["beta"] == team_row["beta"]
    # q-values belong to each slice's dimension: the overall row's is its own p-value, the
    # organisation's team row's comes from comparing two teams.
    assert overall["q_value"] == overall["p_value"]
    assert org_team_row["q_value"] >= org_team_row["p_value"]
    assert np.isfinite(overall["beta"])
