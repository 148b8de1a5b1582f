"""The REML random-intercept fit from per-researcher sums equals statsmodels MixedLM.

statsmodels' default optimiser (BFGS on the Cholesky factor) can stop short of the REML
optimum: by ~1e-6 (relative) on well-behaved data, and on small researcher variances by far
(it reports `converged` False, or True at a lower likelihood). The reference is therefore
MixedLM's best REML log-likelihood over two runs: BFGS to a gradient tolerance of 1e-10, and
Nelder-Mead polished by the same BFGS. Against it the fit from sums agrees to ~1e-10 relative
or better on beta and its SE on every dataset here, and to 5e-11 absolute on a researcher
variance at the boundary (exactly 0 here). The assertions allow 1e-6 relative on beta and SE,
1e-5 relative on the researcher variance (1e-8 absolute at the boundary).
"""

import math
import warnings

import numpy as np
import pytest
from statsmodels.regression.mixed_linear_model import MixedLM

from tests.estimates.test_stats import metr_tasks
from uplift.estimates.stats_mixed import fit_mixed_model, fit_random_intercept

REL = 1e-6
VARIANCE_REL = 1e-5
BOUNDARY_ABS = 1e-8


def simulate(seed, sizes, *, sd_researcher=0.4, sd_task=0.6, constant_forecast=False):
    """Tasks of the primary spec: sizes[g] tasks for researcher g, effect log(0.8) for AI."""
    rng = np.random.default_rng(seed)
    sizes = np.asarray(sizes)
    researcher = np.repeat(np.arange(sizes.size), sizes)
    n = researcher.size
    ai = rng.random(n) < 0.5
    log_forecast = np.full(n, math.log(90.0)) if constant_forecast else rng.normal(4.0, 0.8, n)
    log_actual = (
        0.5
        + 0.85 * log_forecast
        + math.log(0.8) * ai
        + rng.normal(0, sd_researcher, sizes.size)[researcher]
        + rng.normal(0, sd_task, n)
    )
    return log_actual, ai, log_forecast, researcher


def reference(y, exog, groups):
    """statsmodels MixedLM by REML: the best of two tightly converged runs (see the docstring)."""
    model = MixedLM(y, exog, groups=groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary, retry and singular-covariance warnings
        tight = model.fit(reml=True, gtol=1e-10, maxiter=2000)
        simplex = model.fit(reml=True, method="nm", maxiter=5000)
        polished = model.fit(
            reml=True, start_params=simplex.params_object, gtol=1e-10, maxiter=2000
        )
    return max((tight, polished), key=lambda fit: fit.llf)


def assert_equal_to_statsmodels(ours, result, coef=1):
    assert ours["beta"] == pytest.approx(result.params[coef], rel=REL)
    assert ours["se"] == pytest.approx(result.bse[coef], rel=REL)
    variance = float(np.asarray(result.cov_re).ravel()[0])
    if ours["boundary"]:
        assert ours["researcher_variance"] == 0.0
        assert variance == pytest.approx(0.0, abs=BOUNDARY_ABS)
    else:
        assert ours["researcher_variance"] == pytest.approx(variance, rel=VARIANCE_REL)
    assert ours["task_variance"] == pytest.approx(result.scale, rel=VARIANCE_REL)
    assert ours["ci_log"] == pytest.approx(
        (
            ours["beta"] - 1.959963984540054 * ours["se"],
            ours["beta"] + 1.959963984540054 * ours["se"],
        )
    )


SIZES = np.random.default_rng(7)
DATASETS = {
    "balanced": {"seed": 1, "sizes": [20] * 30},
    "unbalanced": {"seed": 2, "sizes": SIZES.integers(1, 41, 30)},
    "one dominant researcher": {"seed": 3, "sizes": [600] + [10] * 20},
    "three researchers": {"seed": 4, "sizes": [30, 25, 40]},
    "large researcher variance": {
        "seed": 5,
        "sizes": [15] * 12,
        "sd_researcher": 2.0,
        "sd_task": 0.2,
    },
    "small researcher variance": {"seed": 6, "sizes": [12] * 25, "sd_researcher": 0.05},
    "large": {"seed": 8, "sizes": SIZES.integers(20, 181, 200)},
}


@pytest.mark.parametrize("name", DATASETS)
def test_fit_equals_statsmodels_mixedlm(name):
    y, ai, lf, researcher = simulate(**DATASETS[name])
    exog = np.column_stack([np.ones(y.size), ai, lf])
    expected = reference(y, exog, researcher)
    ours = fit_mixed_model(y, ai, lf, researcher)
    assert_equal_to_statsmodels(ours, expected)
    assert ours["converged"] is True
    assert ours["boundary"] is False
    assert ours["covariate_dropped"] is False
    assert ours["n"] == y.size
    assert ours["params"] == pytest.approx(list(expected.fe_params), rel=REL)


def test_large_sample_has_about_20000_tasks():
    assert 19_000 < simulate(**DATASETS["large"])[0].size < 21_000


def test_no_variance_between_researchers_gives_the_boundary_as_statsmodels():
    # This seed's REML derivative at gamma = 0 is negative: the estimate is 0.
    y, ai, lf, researcher = simulate(2, [12] * 25, sd_researcher=0.0)
    expected = reference(y, np.column_stack([np.ones(y.size), ai, lf]), researcher)
    ours = fit_mixed_model(y, ai, lf, researcher)
    assert ours["boundary"] is True
    assert ours["converged"] is True
    assert_equal_to_statsmodels(ours, expected)


def test_where_statsmodels_default_fit_stops_short_the_fit_is_at_the_reml_maximum():
    y, ai, lf, researcher = simulate(**DATASETS["small researcher variance"])
    exog = np.column_stack([np.ones(y.size), ai, lf])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = MixedLM(y, exog, groups=researcher).fit(reml=True)
    best = reference(y, exog, researcher)
    assert default.converged is False
    assert best.llf > default.llf + 1.0
    ours = fit_mixed_model(y, ai, lf, researcher)
    assert ours["converged"] is True
    assert_equal_to_statsmodels(ours, best)


def test_constant_forecast_is_dropped_and_the_rest_equals_statsmodels():
    y, ai, lf, researcher = simulate(9, [16] * 20, constant_forecast=True)
    expected = reference(y, np.column_stack([np.ones(y.size), ai]), researcher)
    ours = fit_mixed_model(y, ai, lf, researcher)
    assert ours["covariate_dropped"] is True
    assert len(ours["params"]) == 2
    assert_equal_to_statsmodels(ours, expected)


def test_extra_fixed_effect_columns_such_as_stratum_dummies_equal_statsmodels():
    y, ai, lf, researcher = simulate(10, [24] * 18)
    stratum = np.random.default_rng(11).integers(0, 4, y.size)
    y = y + np.array([0.0, 0.3, -0.2, 0.5])[stratum]
    dummies = [(stratum == s).astype(float) for s in (1, 2, 3)]
    exog = np.column_stack([np.ones(y.size), ai, lf, *dummies])
    expected = reference(y, exog, researcher)
    for coef in (1, 4):
        ours = fit_random_intercept(y, exog, researcher, coef=coef)
        assert_equal_to_statsmodels(ours, expected, coef=coef)
    # The intercept (column 0) is mapped back from the centred fit.
    ours = fit_random_intercept(y, list(exog.T), researcher, coef=0)
    assert ours["beta"] == pytest.approx(expected.params[0], rel=REL)
    assert ours["se"] == pytest.approx(expected.bse[0], rel=REL)


def test_researcher_labels_as_strings_give_the_same_fit():
    y, ai, lf, researcher = simulate(12, [10] * 15)
    by_code = fit_mixed_model(y, ai, lf, researcher)
    by_name = fit_mixed_model(y, ai, lf, np.array([f"dev-{r}" for r in researcher]))
    assert by_name["beta"] == pytest.approx(by_code["beta"], rel=1e-12)
    assert by_name["se"] == pytest.approx(by_code["se"], rel=1e-12)


def test_metr_mixed_model_equals_statsmodels():
    tasks = metr_tasks()
    y = np.log(tasks["actual_minutes"].to_numpy())
    ai = tasks["ai_allowed"].to_numpy()
    lf = np.log(tasks["forecast_no_ai"].to_numpy())
    researcher = tasks["researcher"].to_numpy()
    expected = reference(y, np.column_stack([np.ones(y.size), ai, lf]), researcher)
    ours = fit_mixed_model(y, ai, lf, researcher)
    assert_equal_to_statsmodels(ours, expected)
    assert ours["converged"] is True
    assert (ours["n"], ours["n_clusters"]) == (246, 16)


def test_a_variance_that_the_data_cannot_identify_is_not_converged():
    # One task per researcher: the random intercept and the task error cannot be told apart, the
    # likelihood is flat in gamma (statsmodels warns that its Hessian is not positive definite).
    y, ai, lf, researcher = simulate(13, [1] * 150)
    ours = fit_mixed_model(y, ai, lf, researcher)
    assert ours["converged"] is False


def test_a_variance_without_bound_is_not_converged():
    # Tasks fitted exactly within each researcher: the REML likelihood rises with gamma forever.
    y, ai, lf, researcher = simulate(14, [10] * 8, sd_researcher=1.0, sd_task=0.0)
    ours = fit_mixed_model(y, ai, lf, researcher)
    assert ours["converged"] is False
    assert ours["boundary"] is False


@pytest.mark.parametrize(
    "sizes",
    [[30], [1, 1, 1]],
    ids=["one researcher", "as many parameters as tasks"],
)
def test_designs_that_cannot_be_fitted_give_none(sizes):
    y, ai, lf, researcher = simulate(15, sizes)
    assert fit_mixed_model(y, ai, lf, researcher) is None


def test_a_design_whose_ai_column_is_constant_gives_none():
    y, _, lf, researcher = simulate(16, [10] * 6)
    assert fit_mixed_model(y, np.ones(y.size, bool), lf, researcher) is None
