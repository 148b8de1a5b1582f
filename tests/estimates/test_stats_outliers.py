"""Extreme tasks (docs/estimation.md, "Outliers"): the rule, the fit without them, the
warning when they carry the headline."""

import math

import numpy as np
import pandas as pd
import pytest

from tests.estimates.test_stats import make_tasks, metr_tasks, row
from uplift.estimates.stats import estimate_all, fit_primary
from uplift.estimates.stats_fit import expm1_safe
from uplift.estimates.stats_outliers import (
    OUTLIER_IDS_KEPT,
    outlier_mask,
    outlier_summary,
    outlier_threshold,
)

TOL = 1e-12


def one_scope(seed: int) -> pd.DataFrame:
    """100 tasks of 10 researchers in one team, type, month and tool: every row is one scope."""
    return make_tasks(
        10,
        10,
        ratio=0.75,
        seed=seed,
        teams=("core",),
        task_types=("bugfix",),
        months=("2025-01",),
        tools=("claude",),
    )


def with_absurd_task(tasks: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The first AI-allowed task logged at 10,000 times its forecast; returns its task_id."""
    tasks = tasks.copy()
    i = tasks.index[tasks["ai_allowed"]][0]
    tasks.loc[i, "actual_minutes"] = tasks.loc[i, "forecast_no_ai"] * 1e4
    task_id = tasks.loc[i, "task_id"]
    return tasks, task_id if isinstance(task_id, str) else int(task_id)


def primary_fit_of(tasks: pd.DataFrame) -> dict:
    tasks = tasks.sort_values("task_id")
    return fit_primary(
        np.log(tasks["actual_minutes"].to_numpy()),
        tasks["ai_allowed"].to_numpy(),
        np.log(tasks["forecast_no_ai"].to_numpy()),
        tasks["researcher"].to_numpy(),
    )


def assert_summary_is_fit(summary: dict, fit: dict) -> None:
    assert summary["beta"] == pytest.approx(fit["beta"], abs=TOL)
    assert summary["se"] == pytest.approx(fit["se"]["cr2"], abs=TOL)
    assert summary["p_value"] == pytest.approx(fit["p_value"], abs=TOL)
    assert summary["ci_low"] == pytest.approx(expm1_safe(fit["ci_log"][0]), abs=TOL)
    assert summary["ci_high"] == pytest.approx(expm1_safe(fit["ci_log"][1]), abs=TOL)
    assert summary["n_tasks"] == fit["n"]


@pytest.mark.parametrize(
    ("seed", "what_changes"),
    [
        # Headline (with the absurd task) against the fit without it.
        (1, "sign"),  # +0.06 (p 0.81) against -0.16, neither significant
        (3, "significance"),  # -0.07 (p 0.76) against -0.30 (p 0.015)
    ],
)
def test_an_absurd_task_is_flagged_refitted_without_and_warned(seed, what_changes):
    clean = one_scope(seed)
    tasks, absurd_id = with_absurd_task(clean)
    result = estimate_all(tasks)
    without_fit = primary_fit_of(tasks[tasks["task_id"] != absurd_id])
    for e in result["estimates"]:
        if e["dimension"] == "observational":
            continue
        assert e["status"] == "ok", e["dimension"]
        assert e["outliers"]["n_flagged"] == 1
        assert e["outliers"]["task_ids"] == [absurd_id]
        assert e["outliers"]["truncated"] is False
        # The headline keeps every task; the sensitivity fit is the primary fit on the rest.
        assert e["beta"] == pytest.approx(primary_fit_of(tasks)["beta"], abs=1e-9)
        without = e["sensitivity"]["without_outliers"]
        assert_summary_is_fit(without, without_fit)
        assert without["n_tasks"] == e["n_tasks"] - 1 == 99
        assert "outliers_change_result" in e["warnings"], e["dimension"]
        # The other sensitivity fits are unchanged.
        assert {"no_covariate", "researcher_fixed_effects", "mixed_model"} <= set(e["sensitivity"])
    overall = row(result, "overall")
    without = overall["sensitivity"]["without_outliers"]
    headline_significant = overall["p_value"] < 0.05
    if what_changes == "sign":
        assert overall["beta"] * without["beta"] < 0
        assert headline_significant == (without["p_value"] < 0.05)
    else:
        assert overall["beta"] < 0 and without["beta"] < 0
        assert not headline_significant and without["p_value"] < 0.05
    # With the task's real time, the same data flag nothing and warn nothing.
    clean_overall = row(estimate_all(clean), "overall")
    assert clean_overall["outliers"]["n_flagged"] == 0
    assert "outliers_change_result" not in clean_overall["warnings"]


def test_a_flagged_task_that_changes_neither_sign_nor_significance_is_not_warned():
    # Seed 0: +0.43 (p 0.17) with the absurd task, +0.18 (p 0.13) without it.
    tasks, absurd_id = with_absurd_task(one_scope(0))
    overall = row(estimate_all(tasks), "overall")
    assert overall["outliers"]["task_ids"] == [absurd_id]
    without = overall["sensitivity"]["without_outliers"]
    assert without["beta"] > 0 and overall["beta"] > 0
    assert overall["p_value"] >= 0.05 and without["p_value"] >= 0.05
    assert "outliers_change_result" not in overall["warnings"]


def test_a_clean_dataset_flags_nothing_and_warns_nothing():
    result = estimate_all(make_tasks(seed=5))
    checked = [e for e in result["estimates"] if e["dimension"] != "observational"]
    assert len(checked) == 12 and all(e["status"] == "ok" for e in checked)
    for e in checked:
        assert e["outliers"]["n_flagged"] == 0
        assert e["outliers"]["task_ids"] == []
        assert e["sensitivity"]["without_outliers"] is None
        assert "outliers_change_result" not in e["warnings"]
    assert row(result, "observational")["outliers"] is None


def test_metr_flags_no_task():
    overall = row(estimate_all(metr_tasks()), "overall")
    assert overall["outliers"]["n_flagged"] == 0
    assert "outliers_change_result" not in overall["warnings"]


def test_the_rule_uses_five_robust_sds_and_a_factor_of_three():
    # Median 0, MAD 0.2: 5 x 1.4826 x 0.2 = 1.48 > log(3) = 1.10, so MAD decides.
    r = np.array([-0.4, -0.2, -0.2, 0.0, 0.0, 0.0, 0.2, 0.2, 0.4, 1.47, 1.49, -1.5])
    median, distance = outlier_threshold(r)
    assert median == 0.0
    assert distance == pytest.approx(5 * 1.4826 * 0.2)
    assert outlier_mask(r).tolist() == [False] * 9 + [False, True, True]


def test_near_identical_ratios_do_not_flag_ordinary_tasks():
    # MAD 0.001: five robust SDs are 0.007, but no task is a factor of 3 away from typical.
    r = np.array([0.0, 0.001, -0.001, 0.002, -0.002, 0.0, 0.5, -0.9, 1.09])
    assert outlier_threshold(r)[1] == pytest.approx(math.log(3))
    assert not outlier_mask(r).any()
    assert outlier_mask(np.append(r, 1.11)).tolist() == [False] * 9 + [True]


def test_zero_mad_uses_the_factor_of_three_alone():
    r = np.log([1.0] * 6 + [2.9, 1 / 2.9, 3.2, 1 / 3.2])
    assert outlier_threshold(r) == (0.0, pytest.approx(math.log(3)))
    assert outlier_mask(r).tolist() == [False] * 8 + [True, True]


def test_zero_mad_in_estimate_all():
    """Most tasks took exactly their forecast: only the tasks beyond a factor of 3 are flagged."""
    tasks = one_scope(2)
    rng = np.random.default_rng(0)
    tasks["actual_minutes"] = tasks["forecast_no_ai"]
    # 40 tasks off by up to a factor of 2.5, so the fit has residual variance.
    varied = rng.choice(tasks.index, 40, replace=False)
    tasks.loc[varied, "actual_minutes"] *= np.exp(rng.uniform(-0.9, 0.9, 40))
    far = tasks.index[~tasks.index.isin(varied)][:2]
    tasks.loc[far, "actual_minutes"] *= [3.5, 1 / 4]
    overall = row(estimate_all(tasks), "overall")
    assert overall["outliers"]["median_log_ratio"] == 0.0
    assert overall["outliers"]["threshold_log_distance"] == pytest.approx(math.log(3))
    assert overall["outliers"]["task_ids"] == sorted(int(i) for i in tasks.loc[far, "task_id"])
    assert_summary_is_fit(
        overall["sensitivity"]["without_outliers"], primary_fit_of(tasks.drop(far))
    )


def test_tool_rows_refit_their_tasks_and_the_shared_no_ai_tasks_without_flagged_ones():
    tasks = make_tasks(12, 20, seed=9, teams=("core",), tools=("claude", "copilot"))
    claude = tasks["tools"].map(lambda used: "claude" in used)
    no_ai_id = int(tasks.loc[~tasks["ai_allowed"], "task_id"].iloc[3])
    tool_id = int(tasks.loc[claude, "task_id"].iloc[0])
    for task_id, factor in ((no_ai_id, 1e-3), (tool_id, 1e3)):
        at = tasks["task_id"] == task_id
        tasks.loc[at, "actual_minutes"] = tasks.loc[at, "forecast_no_ai"] * factor
    result = estimate_all(tasks)
    e = row(result, "tool", "claude")
    assert e["outliers"]["task_ids"] == sorted([no_ai_id, tool_id])
    scope = tasks[(claude | ~tasks["ai_allowed"]) & ~tasks["task_id"].isin([no_ai_id, tool_id])]
    assert_summary_is_fit(e["sensitivity"]["without_outliers"], primary_fit_of(scope))
    # The copilot row flags only the no-AI task it shares.
    assert row(result, "tool", "copilot")["outliers"]["task_ids"] == [no_ai_id]


def test_flagged_ids_are_the_input_ids_smallest_first_and_at_most_200():
    tasks = one_scope(4)
    tasks["task_id"] = [f"T-{i:04d}" for i in tasks["task_id"]]
    tasks, absurd_id = with_absurd_task(tasks)
    overall = row(estimate_all(tasks), "overall")
    assert overall["outliers"]["task_ids"] == [absurd_id] == ["T-0004"]
    ids = np.arange(1000, 0, -3)  # 334 flagged tasks, given in descending order
    summary = outlier_summary(ids, (0.0, 1.0))
    assert summary["n_flagged"] == 334
    assert summary["task_ids"] == list(range(1, 1 + 3 * OUTLIER_IDS_KEPT, 3))
    assert summary["truncated"] is True
    assert outlier_summary(ids[:5], (0.0, 1.0))["truncated"] is False


def test_rows_without_an_estimate_have_no_outliers():
    tasks = make_tasks(6, 10, seed=2)
    tasks = tasks.drop(tasks.index[tasks["ai_allowed"]][4:])
    e = row(estimate_all(tasks), "overall")
    assert e["status"] == "insufficient_data"
    assert e["outliers"] is None
