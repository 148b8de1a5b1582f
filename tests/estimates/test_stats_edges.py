"""Edge cases of estimate_all: reproducible bootstraps, constant forecasts, numeric extremes."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from tests.estimates.cr2_reference import dense_cr2
from tests.estimates.test_stats import make_tasks, row
from uplift.estimates.stats import (
    benjamini_hochberg,
    estimate_all,
    fit_no_covariate,
    fit_primary,
    fit_researcher_fixed_effects,
    minimum_detectable_effect,
    tasks_needed,
)
from uplift.estimates.stats_fit import exp_safe, expm1_safe, fit_problem

TOL = 1e-9


def one_team_one_month(**kwargs):
    return make_tasks(
        8, 12, seed=5, teams=("core",), months=("2025-04",), task_types=("bugfix",), **kwargs
    )


def test_one_team_in_one_month_has_the_same_paired_interval_on_every_row():
    result = estimate_all(one_team_one_month())
    scopes = [("overall", None), ("team", "core"), ("month", "2025-04"), ("task_type", "bugfix")]
    paired = [row(result, *scope)["paired"] for scope in scopes]
    assert paired[0]["ci_low"] < paired[0]["time_change"] < paired[0]["ci_high"]
    assert all(p == paired[0] for p in paired[1:])


def test_paired_interval_depends_on_the_data_not_on_other_scopes_or_the_run():
    core = one_team_one_month()
    other = make_tasks(5, 12, seed=6, teams=("infra",), months=("2025-04",), id_offset=10_000)
    other["researcher"] += 100
    alone = estimate_all(core)

    beside = estimate_all(pd.concat([core, other], ignore_index=True))
    assert row(beside, "team", "core")["paired"] == row(alone, "overall")["paired"]
    assert estimate_all(core) == alone


def constant_forecast_tasks() -> pd.DataFrame:
    """200 tasks of one team that always forecasts 60 minutes, AI allowed about 10% faster."""
    tasks = make_tasks(10, 20, seed=12, ratio=0.9, teams=("core",))
    tasks["forecast_no_ai"] = 60.0
    return tasks


def statsmodels_no_forecast(rows: pd.DataFrame, formula: str = "y ~ ai"):
    data = pd.DataFrame(
        {
            "y": np.log(rows["actual_minutes"].to_numpy()),
            "ai": rows["ai_allowed"].to_numpy(float),
            "researcher": rows["researcher"].to_numpy(),
        }
    )
    return smf.ols(formula, data).fit(
        cov_type="cluster", cov_kwds={"groups": data["researcher"]}, use_t=True
    )


def test_constant_forecast_is_fitted_without_it_and_equals_statsmodels():
    tasks = constant_forecast_tasks()
    result = estimate_all(tasks)
    expected = statsmodels_no_forecast(tasks[tasks["status"] == "completed"])
    for scope in [("overall", None), ("team", "core")]:
        e = row(result, *scope)
        assert e["status"] == "ok"
        assert "constant_forecast" in e["warnings"]
        assert "degenerate_design" not in e["warnings"]
        assert e["n_tasks"] == 200
        assert abs(e["beta"] - expected.params["ai"]) < TOL
        assert abs(e["se"]["cluster"] - expected.bse["ai"]) < TOL
        # The headline: CR2 with Bell-McCaffrey df of the same model, by the dense reference.
        done = tasks[tasks["status"] == "completed"]
        exog = np.column_stack([np.ones(len(done)), done["ai_allowed"].to_numpy(float)])
        beta, se, df = dense_cr2(
            np.log(done["actual_minutes"].to_numpy()), exog, done["researcher"].to_numpy(), 1
        )
        crit = sps.t.ppf(0.975, df)
        assert abs(e["se"]["cr2"] - se) < TOL and abs(e["df"] - df) < TOL
        assert abs(e["p_value"] - 2 * sps.t.sf(abs(beta / se), df)) < TOL
        assert abs(e["ci_low"] - math.expm1(beta - crit * se)) < TOL
        assert abs(e["ci_high"] - math.expm1(beta + crit * se)) < TOL
        assert e["sensitivity"]["no_covariate"]["beta"] == pytest.approx(e["beta"], abs=TOL)
    overall = row(result, "overall")
    # The figures of this seed: -15.0%, 95% CI -38.5% to +17.4% on t(8.99).
    assert round(overall["time_change"], 3) == -0.150
    assert (round(overall["ci_low"], 3), round(overall["ci_high"], 3)) == (-0.385, 0.174)
    assert round(overall["df"], 2) == 8.99
    assert overall["sensitivity"]["researcher_fixed_effects"]["covariate_dropped"] is True
    assert overall["sensitivity"]["mixed_model"]["covariate_dropped"] is True


def test_constant_forecast_tool_rows_equal_statsmodels_without_the_forecast():
    tasks = constant_forecast_tasks()
    result = estimate_all(tasks)
    done = tasks[tasks["status"] == "completed"]
    uses = done["tools"].map(lambda used: "claude" in used)
    expected = statsmodels_no_forecast(done[(done["ai_allowed"] & uses) | ~done["ai_allowed"]])
    e = row(result, "tool", "claude")
    assert e["status"] == "ok" and "constant_forecast" in e["warnings"]
    assert abs(e["beta"] - expected.params["ai"]) < TOL
    assert abs(e["se"]["cluster"] - expected.bse["ai"]) < TOL


def test_forecasts_constant_per_researcher_drop_out_of_the_fixed_effects_fit_only():
    tasks = make_tasks(6, 15, seed=13)
    tasks["forecast_no_ai"] = 30.0 + 10.0 * tasks["researcher"]
    done = tasks[tasks["status"] == "completed"]
    y, ai = np.log(done["actual_minutes"]), done["ai_allowed"].to_numpy(float)
    lf, researcher = np.log(done["forecast_no_ai"]), done["researcher"].to_numpy()
    assert fit_primary(y, ai, lf, researcher)["covariate_dropped"] is False
    fe = fit_researcher_fixed_effects(y, ai, lf, researcher)
    expected = statsmodels_no_forecast(done, "y ~ ai + C(researcher)")
    assert fe["covariate_dropped"] is True
    assert abs(fe["beta"] - expected.params["ai"]) < TOL
    assert abs(fe["se"]["cluster"] - expected.bse["ai"]) < TOL


def test_forecasts_that_differ_only_by_arm_stay_a_degenerate_design():
    tasks = make_tasks(6, 10, seed=1)
    tasks["forecast_no_ai"] = np.where(tasks["ai_allowed"], 60.0, 30.0)
    e = row(estimate_all(tasks), "overall")
    assert e["status"] == "insufficient_data"
    assert e["warnings"][:2] == ["insufficient_data", "degenerate_design"]
    assert "constant_forecast" not in e["warnings"]


def small_tasks(**kwargs) -> pd.DataFrame:
    return make_tasks(3, 4, seed=1, **kwargs)


def first_completed_ai(tasks: pd.DataFrame):
    return tasks.index[(tasks["status"] == "completed") & tasks["ai_allowed"]][0]


def test_an_overflowing_scope_is_not_estimable_and_the_rest_is_stored():
    tasks = small_tasks()
    tasks.loc[first_completed_ai(tasks), "actual_minutes"] = 1e300
    result = estimate_all(tasks)
    json.dumps(result, allow_nan=False)
    overall = row(result, "overall")
    assert overall["status"] == "not_estimable"
    assert overall["warnings"][0] == "not_estimable"
    assert "floating-point" in overall["reason"]
    assert overall["time_change"] is None and overall["ci_high"] is None
    assert overall["n_tasks"] == 12
    assert len(result["estimates"]) == 13
    team = row(result, "team", "core")
    assert team["status"] == "insufficient_data" and team["reason"].startswith("Fewer than 5")


def test_extreme_minutes_inside_the_accepted_range_give_finite_figures():
    tasks = make_tasks(6, 10, seed=1)
    tasks.loc[first_completed_ai(tasks), ["actual_minutes", "forecast_no_ai"]] = (43_200, 0.1)
    result = estimate_all(tasks)
    json.dumps(result, allow_nan=False)
    overall = row(result, "overall")
    assert overall["status"] == "ok" and overall["reason"] is None
    assert all(
        math.isfinite(overall[key])
        for key in ("beta", "time_ratio", "speedup", "ci_low", "ci_high", "p_value", "mde")
    )
    assert round(overall["time_change"], 3) == -0.273


@pytest.mark.parametrize("ratio", [1.0, 0.9])
def test_times_that_equal_the_forecast_exactly_have_zero_se_and_no_estimate(ratio):
    tasks = make_tasks(6, 10, seed=1)
    tasks["actual_minutes"] = tasks["forecast_no_ai"] * np.where(tasks["ai_allowed"], ratio, 1.0)
    result = estimate_all(tasks)
    json.dumps(result, allow_nan=False)
    overall = row(result, "overall")
    assert overall["status"] == "not_estimable"
    assert "zero standard error" in overall["reason"]
    assert overall["p_value"] is None and overall["q_value"] is None
    assert row(result, "observational")["status"] == "insufficient_data"


def test_benjamini_hochberg_skips_missing_p_values():
    q = benjamini_hochberg([0.01, math.nan, 0.04, None, 0.03])
    expected = multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1]
    assert q[1] is None and q[3] is None
    assert np.allclose([q[0], q[2], q[4]], expected, rtol=0, atol=1e-15)
    assert q[0] == pytest.approx(0.03) and q[2] == pytest.approx(0.04)
    assert benjamini_hochberg([None, math.nan]) == [None, None]


def test_a_variance_made_negative_by_rounding_is_zero():
    # Exactly, the cluster score of the AI coefficient is 0 in both researchers; in floating
    # point its variance comes out about -1e-17 (a math domain error before).
    y = np.array([4.9, 3.2, 4.1, 2.4])
    ai = np.array([1.0, 0.0, 1.0, 0.0])
    fit = fit_no_covariate(y, ai, [0, 0, 1, 1])
    assert fit["beta"] == pytest.approx(1.7, abs=1e-12)
    assert fit["se"]["cluster"] == 0.0
    assert fit["p_values"]["cluster"] == 0.0
    assert fit["se"]["cr2"] < 1e-15
    assert fit_problem(fit) == "zero_se"


def test_a_zero_se_gives_a_t_test_instead_of_a_division_by_zero():
    # y = log forecast exactly: every fit is exact, the fixed-effects fit included.
    lf = np.array([2.3, 3.6, 2.8, 3.6, 4.4, 4.9])
    fit = fit_researcher_fixed_effects(lf, [1, 0, 0, 1, 1, 0], lf, [0, 0, 1, 1, 2, 2])
    assert fit_problem(fit) == "zero_se"


def test_exp_and_expm1_beyond_a_float_are_infinite():
    assert expm1_safe(1e4) == math.inf and exp_safe(710.0) == math.inf
    assert expm1_safe(-1e4) == -1.0 and math.isnan(expm1_safe(math.nan))
    assert minimum_detectable_effect(1e3) == math.inf
    assert tasks_needed(100, math.inf, 0.1) is None
