"""Sample rules, diagnostics, power, perception and the paired estimate (docs/estimation.md)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import special
from scipy.special import _ufuncs as _scipy_ufuncs

from uplift.estimates.stats_fit import cr2_standard_error, exp_safe, expm1_safe, t_ppf
from uplift.estimates.vocabulary import MIN_RESEARCHERS, MIN_TASKS_PER_ARM

FEW_CLUSTERS = 10
ATTRITION_ALPHA = 0.05
SRM_ALPHA = 0.001
# Share of AI-not-allowed tasks logging AI tools above which the estimate is flagged: beyond one
# task in ten the "no AI" arm is visibly contaminated and the estimate understates the effect.
NON_COMPLIANCE_SHARE = 0.10
MDE_MULTIPLIER = 2.80  # z_0.975 + z_0.80, 80% power at alpha 0.05
# Researchers with a paired block from which the paired estimate has an interval: its
# coverage was measured at 93% or more from here on (bench/coverage.py, docs/estimation.md).
PAIRED_MIN_RESEARCHERS = 5


def tasks_more_needed(n_ai: int, n_no_ai: int, n_researchers: int) -> dict:
    """How many more completed tasks per arm and researchers a scope needs for an estimate.

    The sample rule is at least 5 completed tasks in each arm and 3 researchers.
    """
    return {
        "ai": max(0, MIN_TASKS_PER_ARM - int(n_ai)),
        "no_ai": max(0, MIN_TASKS_PER_ARM - int(n_no_ai)),
        "researchers": max(0, MIN_RESEARCHERS - int(n_researchers)),
    }


def has_enough_data(n_ai: int, n_no_ai: int, n_researchers: int) -> bool:
    """The sample rule: at least 5 completed tasks in each arm and 3 researchers."""
    return not any(tasks_more_needed(n_ai, n_no_ai, n_researchers).values())


def sample_ratio_mismatch(ai, allocation) -> dict | None:
    """Chi-square of the realized arm counts against the planned allocation.

    Expected AI-allowed count is the sum of each task's planned probability; p < 0.001 warns
    that randomization is being bypassed. None when the scope has no randomized tasks.
    """
    ai = np.asarray(ai, dtype=bool)
    allocation = np.asarray(allocation, dtype=float)
    n = ai.size
    if n == 0:
        return None
    expected_ai = float(allocation.sum())
    expected = np.array([expected_ai, n - expected_ai])
    observed = np.array([float(ai.sum()), float(n - ai.sum())])
    if np.any(expected <= 0):
        return None
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    # scipy.stats.chi2.sf(chi2, 1) without the generic wrapper (1 at 0, as it gives).
    p_value = 1.0 if chi2 <= 0 else float(special.chdtrc(1.0, chi2))
    return {
        "n_ai": int(observed[0]),
        "n_no_ai": int(observed[1]),
        "expected_ai": expected_ai,
        "expected_no_ai": float(expected[1]),
        "chi2": chi2,
        "p_value": p_value,
        "warn": p_value < SRM_ALPHA,
    }


def attrition_by_arm(ai, abandoned) -> dict | None:
    """Abandonment rate per arm over the resolved (completed or abandoned) tasks.

    Test: Fisher's exact test (two-sided, scipy.stats.fisher_exact) of arm x abandoned;
    p < 0.05 raises `differential_attrition`. It is exact at every size, so equal abandonment
    in both arms raises the warning in at most 5% of scopes however few tasks they hold
    (bench/attrition_false_alarms.py measures it). The gap between the rates is reported
    (`difference`) but does not warn by itself: by chance alone, arms of 25 to 50 tasks that
    both abandon 10-20% differ by more than 5 points in 40-60% of scopes. Being exact, the test
    is conservative in small scopes (1-3% false alarms at 25-50 tasks per arm). None when an
    arm has no resolved task.
    """
    ai = np.asarray(ai, dtype=bool)
    abandoned = np.asarray(abandoned, dtype=bool)
    n_ai, n_no = int(ai.sum()), int((~ai).sum())
    if n_ai == 0 or n_no == 0:
        return None
    ab_ai, ab_no = int((ai & abandoned).sum()), int((~ai & abandoned).sum())
    rate_ai, rate_no = ab_ai / n_ai, ab_no / n_no
    if ab_ai + ab_no in (0, n_ai + n_no):
        # Nobody (or everybody) abandoned: the arms cannot differ.
        p_value = 1.0
    else:
        table = [[ab_ai, n_ai - ab_ai], [ab_no, n_no - ab_no]]
        p_value = min(1.0, fisher_exact_two_sided(table))
    return {
        "ai": rate_ai,
        "no_ai": rate_no,
        "abandoned_ai": ab_ai,
        "abandoned_no_ai": ab_no,
        "difference": rate_ai - rate_no,
        "test": "fisher_exact",
        "p_value": p_value,
        "warn": p_value < ATTRITION_ALPHA,
    }


class _Hypergeometric:
    """scipy.stats.hypergeom's pmf, cdf and sf for one table's margins, on scalars.

    The same boost functions and the same support and clipping rules as the generic
    ``rv_discrete`` methods, without their argument checks and broadcasting (~0.1 ms a call).
    """

    def __init__(self, total: int, good: int, drawn: int):
        self.args = (float(good), float(drawn), float(total))
        self.low, self.high = max(drawn - (total - good), 0), min(good, drawn)

    def pmf(self, k: int) -> float:
        if not self.low <= k <= self.high:
            return 0.0
        return min(max(float(_scipy_ufuncs._hypergeom_pmf(float(k), *self.args)), 0.0), 1.0)

    def cdf(self, k: int) -> float:
        if k >= self.high:
            return 1.0
        if k < self.low:
            return 0.0
        return min(max(float(_scipy_ufuncs._hypergeom_cdf(float(k), *self.args)), 0.0), 1.0)

    def sf(self, k: int) -> float:
        if k < self.low:
            return 1.0
        if k >= self.high:
            return 0.0
        return min(max(float(_scipy_ufuncs._hypergeom_sf(float(k), *self.args)), 0.0), 1.0)


def fisher_exact_two_sided(table) -> float:
    """``scipy.stats.fisher_exact(table, alternative="two-sided").pvalue`` of a 2 x 2 table.

    scipy's algorithm step for step (scipy 1.17, ``_stats_py.fisher_exact``) on scalar
    hypergeometric functions: the generic scipy.stats wrappers were most of the attrition
    check's time. tests/estimates/test_stats_checks.py compares it with scipy on every small
    table and random large ones.
    """
    (a, b), (c, d) = ((int(v) for v in row) for row in table)
    if min(a, b, c, d) < 0:
        raise ValueError("All values in `table` must be nonnegative.")
    if 0 in (a + c, b + d, a + b, c + d):
        return 1.0
    n1, n2, n = a + b, c + d, a + c
    h = _Hypergeometric(n1 + n2, n1, n)
    mode = int((n + 1) * (n1 + 1) / (n1 + n2 + 2))
    pexact, pmode = h.pmf(a), h.pmf(mode)
    epsilon = 1e-14
    gamma = 1 + epsilon
    if abs(pexact - pmode) / max(pexact, pmode) <= epsilon:
        return 1.0
    if a < mode:
        plower = h.cdf(a)
        if h.pmf(n) > pexact * gamma:
            return min(plower, 1.0)
        guess = _binary_search(lambda x: -h.pmf(x), -pexact * gamma, mode, n)
        return min(plower + h.sf(guess), 1.0)
    pupper = h.sf(a - 1)
    if h.pmf(0) > pexact * gamma:
        return min(pupper, 1.0)
    guess = _binary_search(h.pmf, pexact * gamma, 0, mode)
    return min(pupper + h.cdf(guess), 1.0)


def _binary_search(a, d: float, lo: int, hi: int) -> int:
    # scipy.stats._stats_py._binary_search_for_binom_tst: i in [lo, hi] with a(i) <= d < a(i+1).
    while lo < hi:
        mid = lo + (hi - lo) // 2
        midval = a(mid)
        if midval < d:
            lo = mid + 1
        elif midval > d:
            hi = mid - 1
        else:
            return mid
    return lo if a(lo) <= d else lo - 1


def balance(ai, log_forecast) -> dict:
    """Balance: mean log no-AI forecast per arm of the analysed tasks, and their difference."""
    ai = np.asarray(ai, dtype=bool)
    log_forecast = np.asarray(log_forecast, dtype=float)
    mean_ai = float(log_forecast[ai].mean()) if ai.any() else None
    mean_no = float(log_forecast[~ai].mean()) if (~ai).any() else None
    difference = mean_ai - mean_no if mean_ai is not None and mean_no is not None else None
    return {"ai": mean_ai, "no_ai": mean_no, "difference": difference}


def compliance(ai, used_any_tool) -> dict:
    """Compliance: share of AI-not-allowed tasks that logged AI tool use."""
    ai = np.asarray(ai, dtype=bool)
    used = np.asarray(used_any_tool, dtype=bool)
    n_no = int((~ai).sum())
    share = float((used & ~ai).sum() / n_no) if n_no else None
    return {
        "no_ai_with_tools": int((used & ~ai).sum()),
        "share": share,
        "warn": share is not None and share > NON_COMPLIANCE_SHARE,
    }


@lru_cache(maxsize=4096)  # by df: researchers_needed asks for the same few hundred again
def mde_multiplier(df: float | None = None) -> float:
    """t_0.975 + t_0.80 on ``df`` degrees of freedom: the SEs between the true effect and zero
    that give 80% power to the two-sided 5% test that is reported (t on G-1 for the headline).
    Without df, the normal quantiles (2.80)."""
    if df is None or not math.isfinite(df):
        return MDE_MULTIPLIER
    return t_ppf(0.975, df) + t_ppf(0.80, df)


def minimum_detectable_effect(se: float, df: float | None = None) -> float:
    """The slower detectable effect at 80% power: exp(m * se) - 1, m = ``mde_multiplier(df)``.

    Its faster counterpart is ``minimum_detectable_speedup``. Infinite (null in the JSON) when
    exp overflows.
    """
    return exp_safe(mde_multiplier(df) * se) - 1.0


def minimum_detectable_speedup(se: float, df: float | None = None) -> float:
    """The faster detectable effect at 80% power: exp(-m * se) - 1 (a negative time change)."""
    return expm1_safe(-mde_multiplier(df) * se)


def tasks_needed(n_tasks: int, se: float, target_mde: float, df: float | None = None) -> int | None:
    """Completed tasks needed to reach the target MDE: ceil(n * (se / se_target)^2).

    se_target = log(1 + target_mde) / m, the SE whose MDE is exactly the target, with m on the
    current degrees of freedom: more tasks from the same researchers keep the same df. This
    assumes the SE falls as 1/sqrt(n), which holds only while the spread within researchers
    dominates: see ``researchers_needed``. None when the count is not finite.
    """
    se_target = math.log1p(target_mde) / mde_multiplier(df)
    needed = n_tasks * (se / se_target) ** 2 - 1e-9 if math.isfinite(se) else math.inf
    return int(math.ceil(needed)) if math.isfinite(needed) else None


def researchers_needed(
    n_researchers: int, se: float, target_mde: float, *, limit: int = 10_000
) -> int | None:
    """Researchers needed to reach the target MDE with as many tasks each as now.

    The clustered SE falls as 1/sqrt(G) with G researchers, and the test's degrees of freedom
    grow to G - 1: the smallest G with m(G - 1) * se * sqrt(G0 / G) <= log(1 + target). Unlike
    tasks from the same researchers, this also buys precision that the spread of the effect
    between researchers limits. None when not finite or above ``limit``.
    """
    if n_researchers < 2 or not math.isfinite(se) or se <= 0:
        return None
    target = math.log1p(target_mde)

    def reaches(g: int) -> bool:
        return mde_multiplier(g - 1) * se * math.sqrt(n_researchers / g) <= target

    # The MDE falls as g grows (both the quantiles and the SE do): bisect for the first g.
    low, high = max(n_researchers, 2), limit
    if not reaches(high):
        return None
    while low < high:
        middle = (low + high) // 2
        if reaches(middle):
            high = middle
        else:
            low = middle + 1
    return low


def forecast_log_ratios(forecast_ai, forecast_no_ai) -> np.ndarray:
    """Each task's ``log(forecast_ai / forecast_no_ai)``: the terms of the forecast perception."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(np.asarray(forecast_ai, dtype=float)) - np.log(
            np.asarray(forecast_no_ai, dtype=float)
        )


def posthoc_log_ratios(actual, perceived_other) -> np.ndarray:
    """Each task's ``log(actual / perceived_other)``: the terms of the post-hoc perception.

    ``perceived_other`` is the researcher's estimate of the time under the other condition; the
    term is NaN (dropped) where either time is missing or not positive.
    """
    actual = np.asarray(actual, dtype=float)
    perceived = np.asarray(perceived_other, dtype=float)
    kept = np.isfinite(perceived) & (perceived > 0) & np.isfinite(actual) & (actual > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(kept, np.log(actual) - np.log(perceived), np.nan)


def perception(forecast_terms: np.ndarray, posthoc_terms: np.ndarray, time_change: float) -> dict:
    """The perception figures of a scope (docs/estimation.md, "Perception").

    ``forecast_terms`` are the ``forecast_log_ratios`` of the scope's tasks; ``posthoc_terms``
    the ``posthoc_log_ratios`` of its completed AI-allowed tasks that give a perceived time
    (``n_posthoc`` counts them; NaN terms are left out of the mean). Each figure is
    ``exp(mean(terms)) - 1``, None without terms; each gap is that figure minus ``time_change``.
    """
    forecast = float(expm1_safe(np.mean(forecast_terms))) if forecast_terms.size else None
    kept = posthoc_terms[np.isfinite(posthoc_terms)]
    posthoc = float(expm1_safe(np.mean(kept))) if kept.size else None
    return {
        "forecast_time_change": forecast,
        "posthoc_time_change": posthoc,
        "n_posthoc": int(posthoc_terms.size),
        "perception_gap_forecast": None if forecast is None else forecast - time_change,
        "perception_gap_posthoc": None if posthoc is None else posthoc - time_change,
    }


def _codes(values) -> tuple[np.ndarray, int]:
    # Small non-negative integer codes index bincount directly; anything else is factorised.
    arr = np.asarray(values)
    if arr.dtype.kind in "iu" and arr.size and arr.min() >= 0 and arr.max() < 4 * arr.size + 1024:
        return arr.astype(np.int64, copy=False), int(arr.max()) + 1
    uniques, codes = np.unique(arr, return_inverse=True)
    return codes.ravel().astype(np.int64), max(int(uniques.size), 1)


def paired_estimate(log_ratio, ai, researchers, task_types) -> dict | None:
    """Paired estimate over researcher x task-type blocks, with a CR2 interval over researchers.

    In each block with completed tasks in both arms, d = mean(log(actual / forecast_no_ai)) of
    the AI arm minus that of the no-AI arm; blocks are combined with weights
    n_ai * n_no_ai / (n_ai + n_no_ai). Aggregated per researcher (w_g the sum of a researcher's
    block weights, d_g their weighted mean), the estimate is the weighted mean
    sum w_g d_g / sum w_g, a weighted regression on an intercept with one researcher per
    cluster. Its 95% CI is t on the Bell-McCaffrey degrees of freedom with the CR2 (here HC2)
    standard error, as the headline: a researcher carrying most of the weight lowers the
    degrees of freedom and widens the interval. The interval is shown only from
    PAIRED_MIN_RESEARCHERS researchers with a paired block (below, ci_low and ci_high are
    None). It involves no random draws, so the same data give the same interval in every scope
    and on every run. `log_ratio` is log(actual / forecast_no_ai). None when no block has both
    arms.
    """
    log_ratio = np.asarray(log_ratio, dtype=float)
    ai = np.asarray(ai, dtype=bool)
    researcher_code, n_researcher_codes = _codes(researchers)
    type_code, n_types = _codes(task_types)
    block = researcher_code * n_types + type_code
    n_block_codes = n_researcher_codes * n_types
    n_ai = np.bincount(block, weights=ai, minlength=n_block_codes)
    n_no = np.bincount(block, weights=~ai, minlength=n_block_codes)
    sum_ai = np.bincount(block, weights=np.where(ai, log_ratio, 0.0), minlength=n_block_codes)
    sum_no = np.bincount(block, weights=np.where(ai, 0.0, log_ratio), minlength=n_block_codes)
    both = (n_ai > 0) & (n_no > 0)
    if not both.any():
        return None
    diff = sum_ai[both] / n_ai[both] - sum_no[both] / n_no[both]
    weight = n_ai[both] * n_no[both] / (n_ai[both] + n_no[both])
    beta = float((weight * diff).sum() / weight.sum())

    owner = np.unique(np.flatnonzero(both) // n_types, return_inverse=True)[1].ravel()
    n_res = int(owner.max()) + 1
    sums = np.bincount(owner, weights=weight * diff, minlength=n_res)
    weights = np.bincount(owner, weights=weight, minlength=n_res)
    ci_low = ci_high = se = df = None
    if n_res >= PAIRED_MIN_RESEARCHERS:
        # X = sqrt(w_g), y = sqrt(w_g) d_g: X'X = W, each researcher's gram w_g and score
        # x_g e_g = w_g (d_g - beta).
        total = float(weights.sum())
        se, df, _ = cr2_standard_error(
            np.array([[1.0 / total]]),
            weights[:, None, None],
            (sums - weights * beta)[:, None],
            0,
        )
        if math.isfinite(df) and df > 0 and math.isfinite(se):
            crit = t_ppf(0.975, df)
            ci_low, ci_high = expm1_safe(beta - crit * se), expm1_safe(beta + crit * se)
    return {
        "beta": beta,
        "time_change": expm1_safe(beta),
        "ci_low": ci_low,
        "ci_high": ci_high,
        "se": se,
        "df": df,
        "n_blocks": int(both.sum()),
        "n_researchers": n_res,
    }
