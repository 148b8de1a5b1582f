"""The fast OLS path equals statsmodels within 1e-9; intervals cover the truth; BH and DL."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats as sps
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests

from tests.estimates.cr2_reference import dense_cr2, researcher_dummies
from tests.estimates.test_stats import make_tasks
from tests.estimates.test_stats_mixed import reference as mixed_reference
from uplift.estimates.stats import (
    benjamini_hochberg,
    dersimonian_laird,
    estimate_all,
    fit_no_covariate,
    fit_primary,
    fit_researcher_fixed_effects,
    partial_pooling,
)
from uplift.estimates.stats_fit import Z_975

TOL = 1e-9


@pytest.fixture(scope="module")
def tasks() -> pd.DataFrame:
    randomized = make_tasks(30, 25, seed=21, abandon_ai=0.05)
    self_selected = make_tasks(
        12, 15, seed=22, ratio=0.6, assignment="self_selected", id_offset=50_000
    )
    return pd.concat([randomized, self_selected], ignore_index=True)


@pytest.fixture(scope="module")
def result(tasks) -> dict:
    return estimate_all(tasks)


def scope_rows(tasks: pd.DataFrame, dimension: str, group) -> pd.DataFrame:
    """The scope's analysed tasks, selected independently of the module under test."""
    completed = tasks["status"] == "completed"
    if dimension == "observational":
        return tasks[completed & (tasks["assignment"] == "self_selected")]
    base = tasks[completed & (tasks["assignment"] == "randomized")]
    if dimension == "overall":
        return base
    if dimension == "tool":
        uses = base["tools"].map(lambda used: group in used)
        return base[(base["ai_allowed"] & uses) | ~base["ai_allowed"]]
    return base[base[dimension] == group]


def statsmodels_fits(rows: pd.DataFrame, formula: str = "y ~ ai + lf"):
    data = pd.DataFrame(
        {
            "y": np.log(rows["actual_minutes"].to_numpy()),
            "ai": rows["ai_allowed"].to_numpy(float),
            "lf": np.log(rows["forecast_no_ai"].to_numpy()),
            "researcher": rows["researcher"].to_numpy(),
        }
    )
    model = smf.ols(formula, data)
    groups = {"groups": data["researcher"].to_numpy()}
    return {
        "nonrobust": model.fit(),
        "nonrobust_z": model.fit(use_t=False),
        "hc3": model.fit(cov_type="HC3"),
        "cluster": model.fit(cov_type="cluster", cov_kwds=groups),
        "cluster_t": model.fit(cov_type="cluster", cov_kwds=groups, use_t=True),
    }


def ratio_ci(fit) -> list[float]:
    return list(np.expm1(fit.conf_int().loc["ai"].to_numpy()))


def headline(rows: pd.DataFrame, *, covariate: bool = True, fixed_effects: bool = False) -> dict:
    """The headline by the dense CR2 reference: t interval and p on Bell-McCaffrey df.

    `fixed_effects` replaces the intercept by one per researcher.
    """
    y = np.log(rows["actual_minutes"].to_numpy())
    researcher = rows["researcher"].to_numpy()
    columns = [rows["ai_allowed"].to_numpy(float)]
    if covariate:
        columns.append(np.log(rows["forecast_no_ai"].to_numpy()))
    if fixed_effects:
        exog, coef = np.column_stack([*columns, researcher_dummies(researcher)]), 0
    else:
        exog, coef = np.column_stack([np.ones(len(rows)), *columns]), 1
    beta, se, df = dense_cr2(y, exog, researcher, coef)
    crit = sps.t.ppf(0.975, df)
    return {
        "ci": [math.expm1(beta - crit * se), math.expm1(beta + crit * se)],
        "p": 2 * sps.t.sf(abs(beta / se), df),
        "se": se,
        "df": df,
    }


@pytest.mark.parametrize("dimension", ["overall", "team", "task_type", "month", "tool"])
def test_every_primary_figure_equals_statsmodels(tasks, result, dimension):
    rows = [e for e in result["estimates"] if e["dimension"] == dimension and e["status"] == "ok"]
    assert rows
    for e in rows:
        fits = statsmodels_fits(scope_rows(tasks, dimension, e["group"]))
        beta = fits["nonrobust"].params["ai"]
        assert e["beta"] == pytest.approx(beta, abs=TOL)
        assert e["time_change"] == pytest.approx(math.expm1(beta), abs=TOL)
        assert e["se"]["nonrobust"] == pytest.approx(fits["nonrobust"].bse["ai"], abs=TOL)
        assert e["se"]["hc3"] == pytest.approx(fits["hc3"].bse["ai"], abs=TOL)
        assert e["se"]["cluster"] == pytest.approx(fits["cluster"].bse["ai"], abs=TOL)
        assert e["ci_z"]["nonrobust"] == pytest.approx(ratio_ci(fits["nonrobust_z"]), abs=TOL)
        assert e["ci_z"]["hc3"] == pytest.approx(ratio_ci(fits["hc3"]), abs=TOL)
        assert e["ci_z"]["cluster"] == pytest.approx(ratio_ci(fits["cluster"]), abs=TOL)
        reference = headline(scope_rows(tasks, dimension, e["group"]))
        assert e["se"]["cr2"] == pytest.approx(reference["se"], abs=TOL)
        assert [e["ci_low"], e["ci_high"]] == pytest.approx(reference["ci"], abs=TOL)
        assert e["p_value"] == pytest.approx(reference["p"], abs=TOL)
        assert e["df"] == pytest.approx(reference["df"], rel=TOL)
        assert e["df"] < e["n_researchers"] - 1


def test_observational_row_equals_statsmodels_on_self_selected_tasks(tasks, result):
    e = next(e for e in result["estimates"] if e["dimension"] == "observational")
    rows = scope_rows(tasks, "observational", None)
    fits = statsmodels_fits(rows)
    assert e["beta"] == pytest.approx(fits["nonrobust"].params["ai"], abs=TOL)
    assert [e["ci_low"], e["ci_high"]] == pytest.approx(headline(rows)["ci"], abs=TOL)


def test_fit_primary_p_values_of_all_three_ses_equal_statsmodels(tasks):
    rows = scope_rows(tasks, "overall", None)
    fits = statsmodels_fits(rows)
    ours = fit_primary(
        np.log(rows["actual_minutes"]),
        rows["ai_allowed"],
        np.log(rows["forecast_no_ai"]),
        rows["researcher"].to_numpy(),
    )
    assert ours["params"] == pytest.approx(list(fits["nonrobust"].params), abs=TOL)
    assert ours["p_values"]["nonrobust"] == pytest.approx(fits["nonrobust"].pvalues["ai"], abs=TOL)
    assert ours["p_values"]["hc3"] == pytest.approx(fits["hc3"].pvalues["ai"], abs=TOL)
    assert ours["p_values"]["cluster"] == pytest.approx(fits["cluster_t"].pvalues["ai"], abs=TOL)


def test_researcher_codes_as_strings_give_the_same_fit(tasks):
    rows = scope_rows(tasks, "overall", None)
    args = (np.log(rows["actual_minutes"]), rows["ai_allowed"], np.log(rows["forecast_no_ai"]))
    by_int = fit_primary(*args, rows["researcher"].to_numpy())
    by_str = fit_primary(*args, rows["researcher"].map(lambda r: f"dev-{r}").to_numpy())
    assert by_str["n_clusters"] == by_int["n_clusters"] == rows["researcher"].nunique()
    assert by_str["se"] == pytest.approx(by_int["se"], rel=1e-12)
    assert by_str["ci_log"] == pytest.approx(by_int["ci_log"], rel=1e-12)


def test_no_covariate_sensitivity_equals_statsmodels(tasks, result):
    rows = scope_rows(tasks, "overall", None)
    fits = statsmodels_fits(rows, "y ~ ai")
    ours = fit_no_covariate(
        np.log(rows["actual_minutes"]), rows["ai_allowed"], rows["researcher"].to_numpy()
    )
    assert ours["beta"] == pytest.approx(fits["nonrobust"].params["ai"], abs=TOL)
    assert ours["se"]["cluster"] == pytest.approx(fits["cluster"].bse["ai"], abs=TOL)
    shown = next(e for e in result["estimates"] if e["dimension"] == "overall")["sensitivity"]
    assert [shown["no_covariate"]["ci_low"], shown["no_covariate"]["ci_high"]] == pytest.approx(
        headline(rows, covariate=False)["ci"], abs=TOL
    )


def test_researcher_fixed_effects_equal_statsmodels_dummy_regression(tasks, result):
    rows = scope_rows(tasks, "overall", None)
    fits = statsmodels_fits(rows, "y ~ ai + lf + C(researcher)")
    ours = fit_researcher_fixed_effects(
        np.log(rows["actual_minutes"]),
        rows["ai_allowed"],
        np.log(rows["forecast_no_ai"]),
        rows["researcher"].to_numpy(),
    )
    assert ours["beta"] == pytest.approx(fits["nonrobust"].params["ai"], abs=TOL)
    for key in ("nonrobust", "hc3", "cluster"):
        assert ours["se"][key] == pytest.approx(fits[key].bse["ai"], abs=TOL), key
    shown = next(e for e in result["estimates"] if e["dimension"] == "overall")["sensitivity"]
    fe = shown["researcher_fixed_effects"]
    assert [fe["ci_low"], fe["ci_high"]] == pytest.approx(
        headline(rows, fixed_effects=True)["ci"], abs=TOL
    )


def test_self_selected_included_sensitivity_pools_both_assignments(tasks, result):
    rows = tasks[tasks["status"] == "completed"]
    fits = statsmodels_fits(rows)
    shown = next(e for e in result["estimates"] if e["dimension"] == "overall")["sensitivity"]
    both = shown["self_selected_included"]
    assert both["beta"] == pytest.approx(fits["nonrobust"].params["ai"], abs=TOL)
    assert [both["ci_low"], both["ci_high"]] == pytest.approx(headline(rows)["ci"], abs=TOL)


@pytest.mark.parametrize("dimension", ["overall", "team", "task_type", "month", "tool"])
def test_mixed_model_sensitivity_of_every_scope_is_statsmodels_mixedlm(tasks, result, dimension):
    rows = [e for e in result["estimates"] if e["dimension"] == dimension and e["status"] == "ok"]
    assert rows
    for e in rows:
        scope = scope_rows(tasks, dimension, e["group"])
        exog = sm.add_constant(
            np.column_stack([scope["ai_allowed"].to_numpy(float), np.log(scope["forecast_no_ai"])])
        )
        expected = mixed_reference(
            np.log(scope["actual_minutes"].to_numpy()), exog, scope["researcher"].to_numpy()
        )
        shown = e["sensitivity"]["mixed_model"]
        assert shown["n_tasks"] == len(scope)
        assert shown["beta"] == pytest.approx(expected.params[1], rel=1e-6)
        assert shown["se"] == pytest.approx(expected.bse[1], rel=1e-6)
        low, high = np.expm1(expected.params[1] + np.array([-1, 1]) * Z_975 * expected.bse[1])
        assert [shown["ci_low"], shown["ci_high"]] == pytest.approx([low, high], rel=1e-6)
        variance = float(np.asarray(expected.cov_re).ravel()[0])
        assert shown["researcher_variance"] == pytest.approx(variance, rel=1e-5, abs=1e-8)


def test_headline_interval_covers_a_known_effect_about_95_percent_of_the_time():
    truth = math.log(0.8)
    rng = np.random.default_rng(2025)
    n_researchers, per_researcher, runs = 14, 12, 400
    researcher = np.repeat(np.arange(n_researchers), per_researcher)
    covered = 0
    for _ in range(runs):
        n = researcher.size
        ai = rng.random(n) < 0.5
        lf = rng.normal(4.0, 0.8, n)
        y = (
            0.5
            + 0.85 * lf
            + truth * ai
            + rng.normal(0, 0.5, n_researchers)[researcher]
            + rng.normal(0, 0.6, n)
        )
        low, high = fit_primary(y, ai, lf, researcher)["ci_log"]
        covered += low <= truth <= high
    assert 0.90 <= covered / runs <= 0.99


def test_benjamini_hochberg_equals_statsmodels_fdr_bh():
    p = np.random.default_rng(3).uniform(0, 0.2, 17)
    p[[2, 9]] = p[5]  # ties
    assert benjamini_hochberg(p) == pytest.approx(
        list(multipletests(p, method="fdr_bh")[1]), abs=1e-15
    )
    assert benjamini_hochberg([]) == []


def test_benjamini_hochberg_small_example_by_hand():
    # Sorted p 0.01, 0.02, 0.03, 0.5 times 4/rank: 0.04, 0.04, 0.04, 0.5.
    assert benjamini_hochberg([0.5, 0.03, 0.01, 0.02]) == pytest.approx([0.5, 0.04, 0.04, 0.04])


def test_dersimonian_laird_on_a_hand_checkable_example():
    # b = (0, 2), se = (1, 1): Q = 2, tau^2 = (2 - 1) / (2 - 1) = 1, mean 1, var(mean) = 1.
    pooled = dersimonian_laird([0.0, 2.0], [1.0, 1.0])
    assert pooled["q"] == pytest.approx(2.0)
    assert pooled["tau2"] == pytest.approx(1.0)
    assert pooled["mean"] == pytest.approx(1.0)
    assert pooled["mean_se"] == pytest.approx(1.0)
    assert dersimonian_laird([0.0, 1.0], [1.0, 1.0])["tau2"] == 0.0  # Q = 0.5 < k - 1


def test_dersimonian_laird_floors_tau2_at_zero_where_statsmodels_goes_negative():
    # b = (0, 1), se 1: Q = 0.5 < k - 1, so tau^2 = 0 and the fixed-effect mean and variance;
    # statsmodels' combine_effects says tau^2 = -0.5.
    pooled = dersimonian_laird([0.0, 1.0], [1.0, 1.0])
    assert combine_effects(np.array([0.0, 1.0]), np.ones(2), method_re="dl").tau2 < 0
    assert (pooled["tau2"], pooled["mean"]) == (0.0, pytest.approx(0.5))
    assert pooled["mean_se"] == pytest.approx(math.sqrt(0.5))
    # One subgroup: no spread to estimate (0/0, which rounding makes statsmodels' 0.25 here),
    # its own estimate and standard error.
    single = dersimonian_laird([0.5], [0.1])
    assert single["tau2"] == 0.0
    assert (single["mean"], single["mean_se"]) == (pytest.approx(0.5), pytest.approx(0.1))


def test_partial_pooling_applies_morris_correction_on_a_hand_checkable_example():
    # b = (-1, 1, -1, 1), se 1: Q = 4, tau^2 = (4 - 3) / (4 - 1) = 1/3, mean 0, var(mean) 1/3.
    # B = (k-3)/(k-1) * 1 / (1 + 1/3) = 1/4: shrunk +/-0.75, raw weight 3/4, variance
    # 1 * 3/4 + (1/16)(1/3) + 2/(k-3) * (1/16) * 1 = 43/48.
    pooled = partial_pooling([-1.0, 1.0, -1.0, 1.0], [1.0] * 4, [10.0] * 4)
    assert pooled["tau2"] == pytest.approx(1 / 3)
    assert pooled["shrunk"] == pytest.approx([-0.75, 0.75, -0.75, 0.75])
    assert pooled["raw_weight"] == pytest.approx([0.75] * 4)
    assert pooled["shrunk_se"] == pytest.approx([math.sqrt(43 / 48)] * 4)
    crit = sps.t.ppf(0.975, 10)
    assert pooled["ci_log"][1] == pytest.approx(
        (0.75 - crit * math.sqrt(43 / 48), 0.75 + crit * math.sqrt(43 / 48))
    )
    # Three subgroups are too few to estimate the spread between them: no pooling.
    assert partial_pooling([-1.0, 1.0, 0.0], [1.0] * 3, [10.0] * 3) is None


def test_partial_pooling_widens_the_interval_of_a_subgroup_far_from_the_mean():
    pooled = partial_pooling([0.0, 0.05, -0.05, 0.0, 0.9], [0.2] * 5, [8.0] * 5)
    widths = [high - low for low, high in pooled["ci_log"]]
    assert widths[4] > 1.05 * max(widths[:4])


def test_dersimonian_laird_matches_statsmodels_meta_analysis():
    betas = np.array([-0.3, 0.1, 0.25, -0.05, 0.6])
    ses = np.array([0.1, 0.2, 0.15, 0.3, 0.25])
    ours = dersimonian_laird(betas, ses)
    reference = combine_effects(betas, ses**2, method_re="dl")
    assert ours["tau2"] == pytest.approx(reference.tau2, abs=1e-12)
    assert ours["mean"] == pytest.approx(reference.mean_effect_re, abs=1e-12)
    assert ours["mean_se"] == pytest.approx(reference.sd_eff_w_re, abs=1e-12)


def fit_args(rows: pd.DataFrame, covariate: bool = True) -> tuple:
    args = [np.log(rows["actual_minutes"].to_numpy()), rows["ai_allowed"].to_numpy()]
    if covariate:
        args.append(np.log(rows["forecast_no_ai"].to_numpy()))
    return (*args, rows["researcher"].to_numpy())


def assert_summary_equals_fit(shown: dict, fit: dict) -> None:
    assert shown["beta"] == pytest.approx(fit["beta"], abs=TOL)
    assert shown["se"] == pytest.approx(fit["se"]["cr2"], abs=TOL)
    assert [shown["ci_low"], shown["ci_high"]] == pytest.approx(
        list(np.expm1(fit["ci_log"])), abs=TOL
    )
    assert shown["n_tasks"] == fit["n"]


def test_tool_rows_from_shared_no_ai_sums_equal_direct_fits(tasks, result):
    # Tool rows reuse the AI-not-allowed tasks' sums (fit_with_no_ai_rows): check every fitted
    # figure against fitting each scope's own rows directly.
    completed = tasks["status"] == "completed"
    uses_any = tasks["tools"].map(len) > 0
    rows = [e for e in result["estimates"] if e["dimension"] == "tool" and e["status"] == "ok"]
    assert rows
    for e in rows:
        direct = fit_primary(*fit_args(scope_rows(tasks, "tool", e["group"])))
        assert e["beta"] == pytest.approx(direct["beta"], abs=TOL)
        assert e["se"] == pytest.approx(direct["se"], abs=TOL)
        assert [e["ci_low"], e["ci_high"]] == pytest.approx(
            list(np.expm1(direct["ci_log"])), abs=TOL
        )
        assert e["p_value"] == pytest.approx(direct["p_value"], abs=TOL)
        assert e["df"] == pytest.approx(direct["df"], rel=TOL)
        sensitivity = e["sensitivity"]
        no_covariate = fit_no_covariate(*fit_args(scope_rows(tasks, "tool", e["group"]), False))
        assert_summary_equals_fit(sensitivity["no_covariate"], no_covariate)
        uses = tasks["tools"].map(lambda used, g=e["group"]: g in used)
        pooled = tasks[completed & ((tasks["ai_allowed"] & uses) | ~tasks["ai_allowed"])]
        assert_summary_equals_fit(
            sensitivity["self_selected_included"], fit_primary(*fit_args(pooled))
        )
    assert uses_any.any()


def test_fit_with_no_ai_rows_equals_fit_on_the_concatenated_tasks():
    from uplift.estimates.stats_fit import NoAIRows, fit_with_no_ai_rows

    rng = np.random.default_rng(31)
    n_shared, n_own, n_codes = 400, 250, 30
    shared_lf, own_lf = rng.normal(4, 1, n_shared), rng.normal(4, 1, n_own)
    shared_y = 0.2 + 0.9 * shared_lf + rng.normal(0, 0.5, n_shared)
    own_y = 0.9 * own_lf + rng.normal(0, 0.5, n_own)
    shared_res, own_res = rng.integers(0, n_codes, n_shared), rng.integers(5, 25, n_own)
    shared = NoAIRows(shared_y, shared_lf, shared_res, n_codes)
    y, lf = np.r_[shared_y, own_y], np.r_[shared_lf, own_lf]
    ai, res = np.r_[np.zeros(n_shared, bool), np.ones(n_own, bool)], np.r_[shared_res, own_res]
    for covariate, direct in [
        (True, fit_primary(y, ai, lf, res)),
        (False, fit_no_covariate(y, ai, res)),
    ]:
        ours = fit_with_no_ai_rows(shared, own_y, own_lf, own_res, covariate=covariate)
        assert set(ours) == set(direct)
        for key, value in direct.items():
            if key == "ci_z_log":
                for name, interval in value.items():
                    assert ours[key][name] == pytest.approx(interval, abs=TOL), name
            else:
                assert ours[key] == pytest.approx(value, abs=TOL), key
