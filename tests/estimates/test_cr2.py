"""The headline standard error: CR2 with Bell-McCaffrey degrees of freedom, and strata."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from tests.estimates.cr2_reference import dense_cr2, researcher_dummies
from tests.estimates.test_stats import metr_tasks, row
from uplift.estimates.stats import estimate_all
from uplift.estimates.stats_fit import (
    NoAIRows,
    fit_no_covariate,
    fit_primary,
    fit_researcher_fixed_effects,
    fit_with_no_ai_rows,
    stratum_columns,
)

# Designs: (researchers, tasks per researcher range, one dominant researcher's tasks).
DESIGNS = [(3, (3, 12), None), (5, (2, 30), None), (8, (5, 40), 300), (12, (4, 20), None)]


def design(seed: int, researchers: int, sizes: tuple, dominant: int | None, strata: int = 1):
    rng = np.random.default_rng(seed)
    counts = rng.integers(*sizes, researchers)
    if dominant:
        counts[0] = dominant
    g = np.repeat(np.arange(researchers), counts)
    n = g.size
    stratum = rng.integers(0, strata, researchers)[g]
    ai = rng.random(n) < np.array([0.5, 0.8, 0.2])[stratum]
    lf = np.log(rng.uniform(10, 300, n))
    y = 0.1 - 0.2 * ai + 0.9 * lf + rng.normal(0, 0.4, researchers)[g] + rng.normal(0, 0.5, n)
    return y, ai.astype(float), lf, g, stratum


@pytest.mark.parametrize("seed", range(len(DESIGNS)))
def test_primary_fit_equals_the_dense_cr2_and_bell_mccaffrey_df(seed):
    y, ai, lf, g, _ = design(seed, *DESIGNS[seed])
    fit = fit_primary(y, ai, lf, g)
    beta, se, df = dense_cr2(y, np.column_stack([np.ones(y.size), ai, lf]), g, 1)
    assert fit["beta"] == pytest.approx(beta, rel=1e-9, abs=1e-12)
    assert fit["se"]["cr2"] == pytest.approx(se, rel=1e-9)
    assert fit["df"] == pytest.approx(df, rel=1e-9)
    # The headline interval and p are t on the Bell-McCaffrey df with the CR2 se.
    crit = sps.t.ppf(0.975, df)
    assert fit["ci_log"] == pytest.approx((beta - crit * se, beta + crit * se), rel=1e-9)
    assert fit["p_value"] == pytest.approx(2 * sps.t.sf(abs(beta / se), df), rel=1e-9)
    # The statsmodels CR1 figures stay beside it, unchanged.
    sm_fit = sm.OLS(y, np.column_stack([np.ones(y.size), ai, lf])).fit(
        cov_type="cluster", cov_kwds={"groups": g}
    )
    assert fit["se"]["cluster"] == pytest.approx(sm_fit.bse[1], rel=1e-9)


def test_one_task_per_researcher_gives_statsmodels_hc2():
    # With clusters of one task, A_g = (1 - h_ii)^(-1/2): CR2 is HC2 exactly.
    y, ai, lf, _, _ = design(7, 40, (1, 2), None)
    g = np.arange(y.size)
    fit = fit_primary(y, ai, lf, g)
    hc2 = sm.OLS(y, np.column_stack([np.ones(y.size), ai, lf])).fit(cov_type="HC2")
    assert fit["se"]["cr2"] == pytest.approx(hc2.bse[1], rel=1e-9)


def test_one_dominant_researcher_lowers_the_degrees_of_freedom():
    balanced = fit_primary(*design(1, 8, (20, 21), None)[:4])
    dominated = fit_primary(*design(1, 8, (20, 21), 400)[:4])
    assert balanced["df"] > 5.5  # near G - 1 = 7 for equal researchers
    assert dominated["df"] < 3.0  # one researcher holding 70% of the tasks
    assert dominated["n_clusters"] == balanced["n_clusters"] == 8


def test_researcher_fixed_effects_equal_the_dense_dummy_regression():
    y, ai, lf, g, stratum = design(3, 10, (4, 25), None, strata=2)
    # Researchers whose tasks span both strata, so stratum intercepts stay in the model.
    stratum = (np.arange(y.size) % 3 == 0).astype(int)
    fit = fit_researcher_fixed_effects(y, ai, lf, g, stratum)
    exog = np.column_stack([ai, lf, stratum, researcher_dummies(g)])
    beta, se, df = dense_cr2(y, exog, g, 0)
    assert fit["beta"] == pytest.approx(beta, rel=1e-9)
    assert fit["se"]["cr2"] == pytest.approx(se, rel=1e-9)
    assert fit["df"] == pytest.approx(df, rel=1e-9)


def test_tool_path_equals_the_concatenated_fit():
    y, ai, lf, g, _ = design(4, 9, (10, 30), None)
    ai = ai.astype(bool)
    shared = NoAIRows(y[~ai], lf[~ai], g[~ai], 9)
    for covariate in (True, False):
        fast = fit_with_no_ai_rows(shared, y[ai], lf[ai], g[ai], covariate=covariate)
        exog = [np.ones(y.size), ai.astype(float)] + ([lf] if covariate else [])
        beta, se, df = dense_cr2(y, np.column_stack(exog), g, 1)
        assert fast["beta"] == pytest.approx(beta, rel=1e-9)
        assert fast["se"]["cr2"] == pytest.approx(se, rel=1e-9)
        assert fast["df"] == pytest.approx(df, rel=1e-9)


def test_strata_add_one_intercept_per_stratum_after_the_first():
    y, ai, lf, g, stratum = design(5, 12, (10, 30), None, strata=3)
    fit = fit_primary(y, ai, lf, g, stratum)
    exog = np.column_stack([np.ones(y.size), ai, lf, *stratum_columns(stratum)])
    beta, se, df = dense_cr2(y, exog, g, 1)
    assert fit["beta"] == pytest.approx(beta, rel=1e-9)
    assert fit["se"]["cr2"] == pytest.approx(se, rel=1e-9)
    assert fit["df"] == pytest.approx(df, rel=1e-9)
    no_cov = fit_no_covariate(y, ai, g, stratum)
    sm_fit = sm.OLS(y, np.column_stack([np.ones(y.size), ai, *stratum_columns(stratum)])).fit()
    assert no_cov["beta"] == pytest.approx(sm_fit.params[1], rel=1e-9)
    # One stratum: the unadjusted fit, identical.
    assert fit_primary(y, ai, lf, g, np.zeros(y.size))["beta"] == fit_primary(y, ai, lf, g)["beta"]


def unequal_allocation_tasks(seed: int) -> tuple[pd.DataFrame, float]:
    """Two teams at 0.8 and 0.2 AI allocation whose speed against forecasts differs by 0.6."""
    rng = np.random.default_rng(seed)
    frames = []
    truth = math.log(1 - 0.181)
    for team, allocation, offset in (("fast", 0.8, -0.3), ("slow", 0.2, 0.3)):
        researchers = [f"{team}{i}" for i in range(8)]
        n = 240
        who = rng.choice(researchers, n)
        ai = rng.random(n) < allocation
        forecast = rng.uniform(20, 240, n)
        actual = forecast * np.exp(offset + truth * ai + rng.normal(0, 0.4, n))
        frames.append(
            pd.DataFrame(
                {
                    "researcher": who,
                    "team": team,
                    "task_type": "code",
                    "assignment": "randomized",
                    "ai_allowed": ai,
                    "allocation": allocation,
                    "forecast_no_ai": forecast,
                    "forecast_ai": forecast * 0.8,
                    "status": "completed",
                    "actual_minutes": actual,
                    "perceived_other_minutes": np.nan,
                    "month": "2026-05",
                    "tools": pd.Series([("claude",) if a else () for a in ai], dtype=object),
                }
            )
        )
    tasks = pd.concat(frames, ignore_index=True)
    tasks.insert(0, "task_id", np.arange(len(tasks)) + 1)
    return tasks, math.expm1(truth)


def test_unequal_allocation_between_teams_does_not_bias_the_pooled_rows():
    # Without strata the overall row read about +17% for a true -18.1%.
    tasks, truth = unequal_allocation_tasks(11)
    result = estimate_all(tasks)
    for dimension, group in (("overall", None), ("task_type", "code"), ("month", "2026-05")):
        r = row(result, dimension, group)
        assert r["ci_low"] < truth < r["ci_high"], (dimension, r["time_change"])
        assert r["time_change"] == pytest.approx(truth, abs=0.06)
    tool = row(result, "tool", "claude")
    assert tool["time_change"] == pytest.approx(truth, abs=0.06)
    assert "sample_ratio_mismatch" not in row(result, "overall")["warnings"]


def test_metr_headline_is_cr2_on_bell_mccaffrey_df_and_z_figures_reproduce():
    tasks = metr_tasks()
    metr = row(estimate_all(tasks), "overall")
    analysed = tasks.assign(y=np.log(tasks["actual_minutes"]), lf=np.log(tasks["forecast_no_ai"]))
    exog = np.column_stack(
        [np.ones(len(tasks)), analysed["ai_allowed"].astype(float), analysed["lf"]]
    )
    beta, se, df = dense_cr2(analysed["y"], exog, analysed["researcher"], 1)
    assert metr["se"]["cr2"] == pytest.approx(se, rel=1e-9)
    assert metr["df"] == pytest.approx(df, rel=1e-9)
    assert metr["effective_researchers"] == pytest.approx(df + 1, rel=1e-9)
    crit = sps.t.ppf(0.975, df)
    assert metr["ci_low"] == pytest.approx(math.expm1(beta - crit * se), rel=1e-9)
    assert metr["ci_high"] == pytest.approx(math.expm1(beta + crit * se), rel=1e-9)
    # METR's published z intervals are kept, to three decimals.
    assert [round(v, 3) for v in metr["ci_z"]["cluster"]] == [0.016, 0.390]
