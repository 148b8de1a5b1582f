"""Regression fits behind every estimate (the contract is docs/estimation.md).

A hand-written OLS path is used instead of statsmodels because the refresh fits several hundred
scopes over up to a million tasks; tests/estimates/test_stats_fit.py checks it equals
statsmodels within 1e-9 (params, the three standard errors, p-values and intervals).
Products over the n tasks avoid BLAS: measured, OpenBLAS's threads made the million-task refresh
~3x slower whenever another process held a core, as on a shared Celery host.
"""

from __future__ import annotations

import math
import sys
from typing import NamedTuple

import numpy as np
from scipy import special
from scipy import stats as sps
from statsmodels.stats.meta_analysis import combine_effects

Z_975 = float(sps.norm.ppf(0.975))


# Scalar t and normal tails from the special functions that scipy.stats' t and norm call
# (t._ppf is stdtrit, t._sf is stdtr at -x, norm._sf is ndtr at -x), without the frozen
# argument checks and broadcasting of the generic wrapper: ~100 us a call, a third of
# estimate_all on a few hundred tasks. Same values bit for bit, NaN where scipy gives NaN.
def t_ppf(q: float, df: float) -> float:
    """``scipy.stats.t.ppf(q, df)`` for one q in (0, 1)."""
    if not df > 0:  # also NaN
        return math.nan
    return float(special.stdtrit(float(df), q))


def t_sf(x: float, df: float) -> float:
    """``scipy.stats.t.sf(x, df)`` for one x."""
    if not df > 0 or math.isnan(x):
        return math.nan
    return float(special.stdtr(float(df), -x))


def norm_sf(x: float) -> float:
    """``scipy.stats.norm.sf(x)`` for one x."""
    return float(special.ndtr(-x))


# Condition number above which the design is treated as singular (statsmodels would use pinv).
SINGULAR_CONDITION = 1e12
# Spread, relative to the values' size, at or below which a covariate is constant (rounding).
CONSTANT_TOLERANCE = 1e-9
# Largest x with a finite exp(x); beyond it exp and expm1 are infinite, not an OverflowError.
MAX_LOG = math.log(sys.float_info.max)
# A cluster SE at or below this (on the log scale) means every task is fitted exactly: a
# relative precision of 1e-10 is far below how minutes are recorded, so it is rounding.
MIN_SE = 1e-10
NOT_ESTIMABLE = {
    "zero_se": (
        "Every task is fitted exactly (zero standard error), so no interval can be computed: "
        "check whether the times were copied from the forecasts."
    ),
    "overflow": (
        "The estimate or its interval is beyond the range of floating-point numbers: "
        "check the scope for extreme minutes."
    ),
    "undefined": "The standard error is undefined for this design (NaN).",
}


class DegenerateDesign(ValueError):
    """The scope's design matrix cannot identify the AI coefficient."""


def cluster_codes(clusters) -> tuple[np.ndarray, int]:
    """Compact integer codes 0..G-1 for the researchers of a sample, and G.

    Small non-negative integer codes are used as they are (empty codes cost nothing in
    bincount), anything else is factorised.
    """
    arr = np.asarray(clusters)
    # Small non-negative integer codes are used as they are (bincount sizes by the largest).
    if arr.dtype.kind in "iu" and (
        arr.size == 0 or (arr.min() >= 0 and arr.max() < 4 * arr.size + 1024)
    ):
        codes = arr.astype(np.intp, copy=False)
        present = np.bincount(codes) > 0 if codes.size else np.zeros(0, bool)
        return codes, int(present.sum())
    _, codes = np.unique(arr, return_inverse=True)
    codes = codes.astype(np.intp)
    return codes, int(codes.max() + 1) if codes.size else 0


def is_constant(values, size: float | None = None) -> bool:
    """Whether `values` are all equal up to rounding: spread <= 1e-9 * max(1, size).

    `size` defaults to the largest absolute value (pass the original column's for a demeaned
    one). A constant covariate carries nothing the intercept (or the absorbed researcher
    effects) does not, so the fits drop it instead of declaring the design degenerate.
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return True
    size = float(np.abs(v).max()) if size is None else size
    return bool(np.ptp(v) <= CONSTANT_TOLERANCE * max(1.0, size))


def exp_safe(x: float) -> float:
    """exp(x), infinite above MAX_LOG instead of raising OverflowError."""
    return math.inf if x > MAX_LOG else math.exp(x)


def expm1_safe(x: float) -> float:
    """exp(x) - 1, infinite above MAX_LOG instead of raising OverflowError."""
    return math.inf if x > MAX_LOG else math.expm1(x)


def _sqrt_variance(variance: float) -> float:
    # A variance is never negative but rounding can make a zero one -1e-30: that is 0.
    return math.sqrt(variance) if variance > 0 else (0.0 if variance <= 0 else math.nan)


def _t_ratio(beta: float, se: float) -> float:
    # beta / se, infinite for a zero se (NaN when beta is 0 too) instead of ZeroDivisionError.
    if se > 0 or math.isnan(se):
        return beta / se
    return math.copysign(math.inf, beta) if beta != 0 else math.nan


def fit_problem(fit: dict) -> str | None:
    """Why a fit cannot be reported (a key of NOT_ESTIMABLE), or None when it can.

    A fit is reported when its beta, cluster SE, headline interval and p-value are finite, the
    cluster SE is above MIN_SE (a zero SE, up to rounding, gives a zero-width interval and a p
    of 0 or NaN), and exp(beta), exp(-beta) and the interval's upper end fit in a float.
    """
    beta, se, p_value = fit["beta"], fit["se"]["cr2"], fit["p_value"]
    low, high = fit["ci_log"]
    if any(math.isnan(v) for v in (beta, se, low, high)):
        return "undefined"
    # Before the p-value: an exact fit's t is 0/0 when beta is exactly 0, NaN for the reason
    # of a zero SE.
    if se <= MIN_SE:
        return "zero_se"
    if math.isnan(p_value):
        return "undefined"
    if math.isinf(se) or abs(beta) > MAX_LOG or high > MAX_LOG:
        return "overflow"
    return None


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # numpy's own summation loop: OpenBLAS threads thrash when the Celery host is busy.
    return float(np.einsum("i,i->", a, b))


def _gram(columns: list[np.ndarray]) -> np.ndarray:
    # Cross-products of columns (X'X when columns are X), without BLAS (see _dot).
    k = len(columns)
    out = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            out[i, j] = out[j, i] = _dot(columns[i], columns[j])
    return out


def _combine(columns: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    # sum_j weights[j] * column_j, i.e. X @ weights, without BLAS (see _dot).
    out = columns[0] * weights[0]
    for column, weight in zip(columns[1:], weights[1:], strict=True):
        out += column * weight
    return out


def fit_ols(
    y: np.ndarray,
    exog,
    clusters,
    *,
    coef: int = 1,
    extra_params: int = 0,
    absorbed_leverage: np.ndarray | None = None,
) -> dict:
    """OLS of y on exog with nonrobust, HC3, CR1 and CR2 researcher-clustered standard errors.

    `exog` is an n x k array or a list of k columns. Returns the coefficient at column `coef`
    (`beta`), all `params`, the four SEs, the z-based 95% CIs of each (the replication view),
    and the headline test: the CR2 SE on t with the Bell-McCaffrey degrees of freedom `df`
    (`ci_log`, `p_value`; see `cr2_standard_error`). The `cluster` SE is statsmodels' default
    `cov_type="cluster"` (CR1, small-sample factor G/(G-1) * (n-1)/(n-k)), which reproduces
    METR's (0.016, 0.390) as a z interval; its p-value on t(G-1) is `p_values["cluster"]`.
    `extra_params` counts parameters absorbed before the fit (researcher
    fixed effects), so the degrees of freedom match the equivalent dummy-variable regression,
    and `absorbed_leverage` is their share of each task's leverage (1/n_g), so HC3 matches too.
    """
    y = np.asarray(y, dtype=float)
    # One n x k matrix: each product below is one numpy call, not one per column or pair.
    x = np.array(exog.T if isinstance(exog, np.ndarray) else exog, dtype=float).T
    n, k_own = x.shape
    k = k_own + extra_params
    codes, n_clusters = cluster_codes(clusters)
    if n <= k or n_clusters < 2:
        raise DegenerateDesign("not enough tasks or researchers for the model")
    inverse = _inverse(x.T @ x)
    if inverse is None:
        raise DegenerateDesign("design matrix is singular")
    xtx_inv = inverse.matrix
    params = xtx_inv @ (x.T @ y)
    resid = y - x @ params
    df_resid = n - k
    scale = float(resid @ resid) / df_resid

    # HC3 scales each squared residual by 1/(1-h_i)^2, h_i = x_i' (X'X)^-1 x_i the leverage.
    leverage = np.einsum("ij,ij->i", x @ xtx_inv, x)
    if absorbed_leverage is not None:
        leverage = leverage + absorbed_leverage
    with np.errstate(divide="ignore", invalid="ignore"):  # leverage 1: HC3 undefined, as in sm
        scaled = x * (resid / (1.0 - leverage))[:, None]
        cov_hc3 = xtx_inv @ (scaled.T @ scaled) @ xtx_inv

    # Per-researcher sums of x_i * e_i and of x_i x_i' (one bincount each).
    n_codes = int(codes.max()) + 1
    sums = cluster_sums(x * resid[:, None], codes, n_codes)
    present = np.bincount(codes, minlength=n_codes) > 0
    grams = cluster_sums((x[:, :, None] * x[:, None, :]).reshape(n, -1), codes, n_codes)
    return _ols_result(
        params,
        xtx_inv,
        scale,
        cov_hc3,
        sums.T @ sums,
        _cr2_by_code(
            cr2_standard_error(
                xtx_inv,
                grams.reshape(n_codes, k_own, k_own)[present],
                sums[present],
                coef,
                inverse=inverse,
            ),
            present,
        ),
        n=n,
        k=k,
        n_clusters=n_clusters,
        coef=coef,
    )


def cluster_sums(values: np.ndarray, codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Each researcher code's column sums of an n x m array, as n_codes x m: one bincount."""
    m = values.shape[1]
    index = (codes[:, None] * m + np.arange(m)).ravel()
    return np.bincount(index, weights=values.ravel(), minlength=n_codes * m).reshape(n_codes, m)


def _cr2_by_code(cr2: tuple, present: np.ndarray) -> tuple[float, float, np.ndarray]:
    # The per-researcher CR2 contributions indexed by researcher code (0 for absent codes).
    se, df, contributions = cr2
    by_code = np.zeros(present.shape[0])
    by_code[present] = contributions
    return se, df, by_code


def cluster_grams(columns: list[np.ndarray], codes: np.ndarray, n_codes: int = 0) -> np.ndarray:
    """Each researcher's X_g'X_g, as a (codes x k x k) array, one bincount per column pair."""
    k = len(columns)
    n_codes = max(n_codes, int(codes.max()) + 1 if codes.size else 0)
    out = np.empty((n_codes, k, k))
    for i in range(k):
        for j in range(i, k):
            out[:, i, j] = out[:, j, i] = np.bincount(
                codes, weights=columns[i] * columns[j], minlength=n_codes
            )
    return out


class _Inverse(NamedTuple):
    """(X'X)^-1 and its square root and the root's inverse, from one eigendecomposition."""

    matrix: np.ndarray
    root: np.ndarray
    root_inv: np.ndarray


def _inverse(xtx: np.ndarray) -> _Inverse | None:
    """(X'X)^-1 with (X'X)^(-1/2) and (X'X)^(1/2), or None when X'X is singular.

    Singular: not finite, or a 2-norm condition number (largest over smallest absolute
    eigenvalue, as `np.linalg.cond` computes it from singular values) above
    SINGULAR_CONDITION. One `eigh` gives the inverse and both roots that CR2 needs, where an
    SVD for the condition, an LU inverse and two more `eigh` were ~5 LAPACK calls a fit.
    """
    if not np.all(np.isfinite(xtx)):
        return None
    values, vectors = np.linalg.eigh(xtx)  # ascending
    # A Gram matrix has no negative eigenvalue but rounding's; positive definite, its
    # eigenvalues are its singular values.
    if values[0] <= 0.0 or values[-1] / values[0] > SINGULAR_CONDITION:
        return None
    transposed = vectors.T
    return _Inverse(
        matrix=(vectors / values) @ transposed,
        root=(vectors / np.sqrt(values)) @ transposed,
        root_inv=(vectors * np.sqrt(values)) @ transposed,
    )


def _symmetric_power(matrix: np.ndarray, power: float) -> np.ndarray:
    # matrix ** power for a symmetric positive definite matrix (or a stack of them).
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.maximum(values, 0.0)[..., None, :] ** power) @ np.swapaxes(vectors, -1, -2)


def cr2_standard_error(
    xtx_inv: np.ndarray,
    grams: np.ndarray,
    scores: np.ndarray,
    coef: int,
    *,
    inverse: _Inverse | None = None,
) -> tuple[float, float, np.ndarray]:
    """The CR2 cluster-robust SE of one coefficient and its Bell-McCaffrey degrees of freedom.

    CR2 (Bell and McCaffrey 2002; Pustejovsky and Tipton 2018) corrects each researcher's
    residuals by A_g = (I - H_gg)^(-1/2), H_gg = X_g M X_g' the researcher's block of the hat
    matrix and M = (X'X)^-1, with no further small-sample factor:
    V = c'M [sum_g X_g'A_g e_g e_g'A_g X_g] M c. The degrees of freedom are Satterthwaite's for
    that variance under independent errors of equal variance: with G the n x G matrix whose
    column g is (I - H)' A_g X_g M c, df = tr(G'G)^2 / tr((G'G)^2).

    Nothing of size n_g x n_g is formed: H_gg maps the span of X_g onto itself as X_g M S_g
    does (S_g = X_g'X_g), so A_g X_g = X_g f(M S_g) with f(x) = (1 - x)^(-1/2), computed from
    T = M^(1/2) S_g M^(1/2) as M^(1/2) f(T) M^(-1/2). Then V = sum_g (c'M f(M S_g)' X_g'e_g)^2
    and, with a_g = f(M S_g) M c, G'G = diag(a_g'S_g a_g) - U M U' where row g of U is S_g a_g.
    As in clubSandwich, an eigenvalue of H_gg within 1e-12 of 1 (a researcher who alone
    identifies a parameter) is left out of the inverse square root (a pseudo-inverse).

    `grams` holds S_g and `scores` X_g'e_g for the researchers present (G x k x k and G x k).
    Returns (se, df, contributions); df is NaN when it is not defined (every researcher's
    weight is zero). `contributions` holds each researcher's c'M f(M S_g)' X_g'e_g, whose
    squares sum to the variance: the products of two fits' contributions, summed over the
    researchers they share, are the CR2 covariance of their coefficients (the lab view's).
    """
    if inverse is None:
        root = _symmetric_power(xtx_inv, 0.5)
        root_inv = _symmetric_power(xtx_inv, -0.5)
    else:  # the fit's own decomposition (`_inverse`)
        root, root_inv = inverse.root, inverse.root_inv
    values, vectors = np.linalg.eigh(root @ grams @ root)
    gap = 1.0 - values
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(gap > 1e-12, 1.0 / np.sqrt(np.where(gap > 1e-12, gap, 1.0)), 0.0)
    f = root @ ((vectors * scaled[:, None, :]) @ np.swapaxes(vectors, 1, 2)) @ root_inv
    m_c = xtx_inv[:, coef]
    # a_g = f(M S_g) M c; each researcher's CR2 contribution is a_g' X_g'e_g.
    a = f @ m_c
    contributions = np.einsum("gi,gi->g", a, scores)
    variance = float(contributions @ contributions)
    u = np.einsum("gij,gj->gi", grams, a)
    d = np.einsum("gi,gi->g", a, u)
    p_diag = np.einsum("gi,ij,gj->g", u, xtx_inv, u)
    trace = float(d.sum() - p_diag.sum())
    m_utu = xtx_inv @ (u.T @ u)
    frobenius = float((d * d).sum() - 2.0 * (d * p_diag).sum() + np.trace(m_utu @ m_utu))
    df = trace * trace / frobenius if frobenius > 0 else math.nan
    return _sqrt_variance(variance), df, contributions


def _ols_result(
    params: np.ndarray,
    xtx_inv: np.ndarray,
    scale: float,
    cov_hc3: np.ndarray,
    cluster_meat: np.ndarray,
    cr2: tuple[float, float, np.ndarray],
    *,
    n: int,
    k: int,
    n_clusters: int,
    coef: int,
) -> dict:
    # The figures of fit_ols from the fitted pieces (shared with fit_with_no_ai_rows).
    df_resid = n - k
    cov_nonrobust = scale * xtx_inv
    correction = n_clusters / (n_clusters - 1.0) * ((n - 1.0) / (n - k))
    cov_cluster = correction * (xtx_inv @ cluster_meat @ xtx_inv)

    beta = float(params[coef])
    se_cr2, df, contributions = cr2
    se = {
        "nonrobust": _sqrt_variance(cov_nonrobust[coef, coef]),
        "hc3": _sqrt_variance(cov_hc3[coef, coef]),
        "cluster": _sqrt_variance(cov_cluster[coef, coef]),
        "cr2": se_cr2,
    }
    df_cluster = n_clusters - 1
    t_crit = t_ppf(0.975, df) if df > 0 else math.nan
    p_values = {
        "nonrobust": 2 * t_sf(abs(_t_ratio(beta, se["nonrobust"])), df_resid),
        "hc3": 2 * norm_sf(abs(_t_ratio(beta, se["hc3"]))),
        "cluster": 2 * t_sf(abs(_t_ratio(beta, se["cluster"])), df_cluster),
        "cr2": 2 * t_sf(abs(_t_ratio(beta, se_cr2)), df) if df > 0 else math.nan,
    }
    return {
        "beta": beta,
        "params": [float(v) for v in params],
        "se": se,
        "ci_z_log": {key: (beta - Z_975 * s, beta + Z_975 * s) for key, s in se.items()},
        "ci_log": (beta - t_crit * se_cr2, beta + t_crit * se_cr2),
        "t_crit": t_crit,
        "p_values": p_values,
        "p_value": p_values["cr2"],
        "n": int(n),
        "k": int(k),
        "df_resid": int(df_resid),
        "n_clusters": int(n_clusters),
        "df_cluster": int(df_cluster),
        "df": float(df),
        # Each researcher code's CR2 contribution (see cr2_standard_error).
        "cr2_contributions": contributions,
    }


class NoAIRows:
    """AI-not-allowed tasks shared by several fits, summarised once for `fit_with_no_ai_rows`.

    Every tool row compares its tool's AI-allowed tasks with the same AI-not-allowed tasks (about
    half of all tasks). Their cross-products and per-researcher sums (n_g, sum y, sum lf,
    sum lf*y, sum lf^2) are computed here once instead of once per tool. `researchers` are
    non-negative integer codes below `n_codes`.
    """

    def __init__(self, log_actual, log_forecast, researchers, n_codes: int):
        self.y = np.ascontiguousarray(log_actual, dtype=float)
        self.log_forecast = np.ascontiguousarray(log_forecast, dtype=float)
        codes = np.asarray(researchers, dtype=np.intp)
        self.n = self.y.shape[0]
        self.gram = _gram([np.ones(self.n), self.log_forecast])
        self.xty = np.array([self.y.sum(), _dot(self.log_forecast, self.y)])
        lf = self.log_forecast

        def per_researcher(weights=None) -> np.ndarray:
            return np.bincount(codes, weights=weights, minlength=n_codes).astype(float)

        self.count = per_researcher()
        self.sum_y = per_researcher(self.y)
        self.sum_lf = per_researcher(lf)
        self.sum_lf_y = per_researcher(lf * self.y)
        self.sum_lf_lf = per_researcher(lf * lf)


def fit_with_no_ai_rows(
    shared: NoAIRows, log_actual, log_forecast, researchers, *, covariate: bool = True
) -> dict:
    """`fit_primary` (`fit_no_covariate` if not `covariate`) on `shared` plus AI-allowed tasks.

    Equal to fitting the concatenated tasks up to rounding (tests check 1e-9; typically 1e-13),
    at a fraction of the cost: the shared tasks' AI column is 0, so their part of X'X, X'y and
    the per-researcher score sums come from `shared`'s sums, and their part of the residuals
    and HC3 leverages is a few vectorized passes over two columns. `researchers` are integer
    codes below `shared`'s `n_codes`. Same keys as `fit_ols`, and `covariate_dropped` as in
    `fit_primary` when the forecast is constant over the shared and own tasks together.
    """
    y = np.ascontiguousarray(log_actual, dtype=float)
    lf = np.ascontiguousarray(log_forecast, dtype=float)
    codes = np.asarray(researchers, dtype=np.intp)
    m = y.shape[0]
    own = [np.ones(m), np.ones(m), lf] if covariate else [np.ones(m), np.ones(m)]
    k = len(own)
    # Columns of the shared tasks inside the model (their AI column is 0): (1, lf) or (1,).
    sel = [0, 2] if covariate else [0]
    sel_shared = [0, 1] if covariate else [0]
    n_codes = shared.count.shape[0]
    present = (shared.count > 0) | (np.bincount(codes, minlength=n_codes) > 0)
    n, n_clusters = shared.n + m, int(present.sum())
    if n <= k or n_clusters < 2:
        raise DegenerateDesign("not enough tasks or researchers for the model")
    xtx = _gram(own)
    xtx[np.ix_(sel, sel)] += shared.gram[np.ix_(sel_shared, sel_shared)]
    inverse = _inverse(xtx)
    if inverse is None:
        if covariate and is_constant(np.concatenate([shared.log_forecast, lf])):
            fit = fit_with_no_ai_rows(shared, y, lf, codes, covariate=False)
            return {**fit, "covariate_dropped": True}
        raise DegenerateDesign("design matrix is singular")
    xtx_inv = inverse.matrix
    xty = np.array([_dot(c, y) for c in own])
    xty[sel] += shared.xty[sel_shared]
    params = xtx_inv @ xty
    a, c = params[0], (params[2] if covariate else 0.0)

    resid = y - _combine(own, params)
    shared_resid = shared.y - a - c * shared.log_forecast if covariate else shared.y - a
    scale = (_dot(resid, resid) + _dot(shared_resid, shared_resid)) / (n - k)

    # Leverages: generic for the own tasks; for a shared task x = (1, 0, lf), so
    # h = A00 + lf * (2 A02 + A22 lf) with A = (X'X)^-1.
    leverage = sum(col * _combine(own, xtx_inv[j]) for j, col in enumerate(own))
    if covariate:
        slf = shared.log_forecast
        shared_leverage = xtx_inv[0, 0] + slf * (2.0 * xtx_inv[0, 2] + xtx_inv[2, 2] * slf)
    else:
        shared_leverage = xtx_inv[0, 0]
    with np.errstate(divide="ignore", invalid="ignore"):  # leverage 1: HC3 undefined, as in sm
        scaled = resid / (1.0 - leverage)
        shared_scaled = shared_resid / (1.0 - shared_leverage)
        meat = _gram([col * scaled for col in own])
        squared = shared_scaled * shared_scaled
        shared_meat = np.array([[squared.sum()]])
        if covariate:
            s_lf = _dot(squared, slf)
            shared_meat = np.array([[squared.sum(), s_lf], [s_lf, _dot(squared * slf, slf)]])
        meat[np.ix_(sel, sel)] += shared_meat
        cov_hc3 = xtx_inv @ meat @ xtx_inv

    # Per-researcher score sums: sum_g e = S_y - a n_g - c S_lf, sum_g lf e likewise.
    sums = [np.bincount(codes, weights=col * resid, minlength=n_codes) for col in own]
    sums[0] = sums[0] + (shared.sum_y - a * shared.count - c * shared.sum_lf)
    if covariate:
        sums[2] = sums[2] + (shared.sum_lf_y - a * shared.sum_lf - c * shared.sum_lf_lf)
    grams = cluster_grams(own, codes, n_codes)
    grams[:, 0, 0] += shared.count
    if covariate:
        grams[:, 0, 2] += shared.sum_lf
        grams[:, 2, 0] += shared.sum_lf
        grams[:, 2, 2] += shared.sum_lf_lf
    cr2 = _cr2_by_code(
        cr2_standard_error(
            xtx_inv, grams[present], np.column_stack(sums)[present], 1, inverse=inverse
        ),
        present,
    )
    fit = _ols_result(
        params,
        xtx_inv,
        scale,
        cov_hc3,
        _gram(sums),
        cr2,
        n=n,
        k=k,
        n_clusters=n_clusters,
        coef=1,
    )
    return {**fit, "covariate_dropped": False}


def stratum_columns(strata) -> list[np.ndarray]:
    """Indicator columns of randomization strata, all but the first (none for one stratum).

    A stratum is the set of tasks drawn with the same probability of AI allowed. Within it the
    arm is independent of everything decided before the draw, so a common AI coefficient with
    one intercept per stratum (stratum fixed effects) compares like with like even when teams
    with different allocations also differ in speed. With a single stratum the fit is the
    unadjusted one, unchanged.
    """
    if strata is None:
        return []
    _, codes = np.unique(np.asarray(strata), return_inverse=True)
    codes = codes.ravel()
    return [(codes == level).astype(float) for level in range(1, int(codes.max(initial=0)) + 1)]


def fit_primary(log_actual, ai, log_forecast, clusters, strata=None) -> dict:
    """The primary estimate: OLS of log(actual) on AI allowed and log(no-AI forecast).

    `log(actual_minutes) = a + b * ai_allowed + c * log(forecast_no_ai_minutes) + e`, with the
    standard errors of the contract and the headline CR2 t interval on Bell-McCaffrey df.
    See `fit_ols` for the returned keys; `beta` is b.

    Constant forecast: when every task has the same forecast (`is_constant`), c is not
    identified but b is: the model is fitted without the forecast (`log(actual) = a + b *
    ai_allowed + e`, the no-covariate fit) and `covariate_dropped` is True. A design whose b is
    not identified (one arm only, or forecasts that differ only by arm) raises DegenerateDesign.

    `strata` (one label per task, such as the allocation it was drawn with) adds an intercept
    per randomization stratum after the first (`stratum_columns`).
    """
    log_actual = np.asarray(log_actual, dtype=float)
    exog = [np.ones(log_actual.shape[0]), np.asarray(ai, float), np.asarray(log_forecast, float)]
    dummies = stratum_columns(strata)
    try:
        fit = fit_ols(log_actual, exog + dummies, clusters, coef=1)
    except DegenerateDesign:
        if not is_constant(exog[2]):
            raise
        fit = fit_ols(log_actual, exog[:2] + dummies, clusters, coef=1)
        return {**fit, "covariate_dropped": True}
    return {**fit, "covariate_dropped": False}


def fit_no_covariate(log_actual, ai, clusters, strata=None) -> dict:
    """Sensitivity "no covariate": OLS of log(actual) on AI allowed alone, same SEs as primary.

    Stratum intercepts are kept (`strata`): they are the design, not a covariate.
    """
    log_actual = np.asarray(log_actual, dtype=float)
    exog = [np.ones(log_actual.shape[0]), np.asarray(ai, float), *stratum_columns(strata)]
    return {**fit_ols(log_actual, exog, clusters, coef=1), "covariate_dropped": False}


def fit_researcher_fixed_effects(log_actual, ai, log_forecast, clusters, strata=None) -> dict:
    """Sensitivity "researcher fixed effects": the primary spec plus one intercept per researcher.

    Fitted by the within transformation (demeaning by researcher), which gives the same
    coefficient, residuals and clustered SE as the dummy-variable regression
    `log_actual ~ ai + log_forecast + C(researcher)` in statsmodels (degrees of freedom count the
    G researcher intercepts; HC3 adds the dummies' leverage 1/n_g), at a fraction of the cost.
    A researcher with a single task has leverage 1, which makes HC3 infinite as in statsmodels.
    When each researcher's forecasts are constant (`is_constant` after demeaning), the forecast
    is absorbed by the researcher intercepts: it is dropped (`covariate_dropped`). Stratum
    intercepts (`strata`) enter only where a researcher's tasks span several strata; the others
    are absorbed by the researcher intercepts.
    """
    codes, _ = cluster_codes(clusters)
    counts = np.bincount(codes)
    safe = np.where(counts > 0, counts, 1)

    def within(values) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        return v - (np.bincount(codes, weights=v) / safe)[codes]

    columns = [within(v) for v in (log_actual, ai, log_forecast)]
    n_clusters = int((counts > 0).sum())
    dropped = is_constant(columns[2], float(np.abs(np.asarray(log_forecast, float)).max(initial=0)))
    dummies = [d for d in map(within, stratum_columns(strata)) if not is_constant(d, 1.0)]
    fit = fit_ols(
        columns[0],
        (columns[1:2] if dropped else columns[1:]) + dummies,
        codes,
        coef=0,
        extra_params=n_clusters,
        # The researcher dummies' hat matrix is block-averaging: leverage 1/n_g per task.
        absorbed_leverage=1.0 / safe[codes],
    )
    return {**fit, "covariate_dropped": dropped}


def benjamini_hochberg(p_values) -> list[float | None]:
    """Benjamini-Hochberg q-values (false discovery rate) for the subgroups of one dimension.

    q_(i) = min over j >= i of p_(j) * m / j, capped at 1, in the input order: scipy's
    `false_discovery_control(method="bh")`, equal to statsmodels' `multipletests(method=
    "fdr_bh")[1]`. A missing or NaN p-value is skipped: its q is None and the others are
    computed among themselves (m counts them only), as scipy refuses NaN.
    """
    p = np.array([math.nan if v is None else float(v) for v in p_values], dtype=float)
    present = np.flatnonzero(np.isfinite(p))
    q: list[float | None] = [None] * p.size
    if present.size:
        q_present = sps.false_discovery_control(p[present], method="bh")
        for position, value in zip(present, np.atleast_1d(q_present), strict=True):
            q[position] = float(value)
    return q


def dersimonian_laird(betas, ses) -> dict:
    """Random-effects mean of subgroup coefficients with the DerSimonian-Laird tau^2.

    With w_i = 1/se_i^2: Q = sum w_i (b_i - b_fixed)^2, tau^2 = max(0, (Q - (k-1)) /
    (sum w - sum w^2 / sum w)); the mean uses weights 1/(se_i^2 + tau^2), and its variance is
    1 / sum of those weights. Computed by statsmodels' `combine_effects(method_re="dl")`,
    which leaves tau^2 negative when Q < k - 1: tau^2 is then 0 and the mean the fixed-effect
    one, as DerSimonian and Laird define it. So it is for a single subgroup, whose tau^2 is
    0/0 (rounding makes statsmodels' anything from 0 to infinite).
    """
    b = np.asarray(betas, dtype=float)
    s2 = np.asarray(ses, dtype=float) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):  # k = 1: no degrees of freedom
        combined = combine_effects(b, s2, method_re="dl")
    if b.size > 1 and combined.tau2 > 0:
        tau2, mean, mean_se = combined.tau2, combined.mean_effect_re, combined.sd_eff_w_re
    else:
        tau2, mean, mean_se = 0.0, combined.mean_effect_fe, combined.sd_eff_w_fe
    return {
        "k": int(b.size),
        "q": float(combined.q),
        "tau2": float(tau2),
        "mean": float(mean),
        "mean_se": float(mean_se),
    }


# Subgroups a dimension needs before they are pooled: Morris's correction divides by k - 3.
MIN_POOLED_GROUPS = 4


def partial_pooling(betas, ses, dfs) -> dict | None:
    """Each subgroup's estimate shrunk toward its dimension's mean, with honest intervals.

    The plain empirical-Bayes shrinkage b_i* = mu + (1 - B_i)(b_i - mu), B_i = se_i^2 /
    (se_i^2 + tau^2), treats the estimated tau^2 as known: it over-shrinks when tau^2 is
    underestimated, and the intervals of the subgroups far from the mean (the ones that
    matter) undercover. Morris's (1983) correction is used instead:

    - B_i = min(1, (k-3)/(k-1) * se_i^2 / (se_i^2 + tau^2)), tau^2 and mu DerSimonian-Laird's;
    - var(b_i*) = se_i^2 (1 - B_i) + B_i^2 var(mu) + 2/(k-3) B_i^2 (b_i - mu)^2, the last term
      the uncertainty of B_i itself, largest for a subgroup far from the mean;
    - the 95% interval is b_i* +/- t_0.975(df_i) sd, on the subgroup's own degrees of freedom.

    `raw_weight` is 1 - B_i, the weight kept on the raw estimate (1 leaves it as fitted, 0
    replaces it by the mean). None for fewer than MIN_POOLED_GROUPS subgroups, where tau^2
    cannot be estimated well enough to shrink anything.
    """
    b = np.asarray(betas, dtype=float)
    s2 = np.asarray(ses, dtype=float) ** 2
    k = b.size
    if k < MIN_POOLED_GROUPS:
        return None
    dl = dersimonian_laird(b, np.sqrt(s2))
    tau2, mean, mean_var = dl["tau2"], dl["mean"], dl["mean_se"] ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.minimum(1.0, (k - 3) / (k - 1) * s2 / (s2 + tau2))
    shrunk = mean + (1.0 - weight) * (b - mean)
    variance = (
        s2 * (1.0 - weight) + weight**2 * mean_var + 2.0 / (k - 3) * weight**2 * (b - mean) ** 2
    )
    sd = np.sqrt(np.maximum(variance, 0.0))
    crit = sps.t.ppf(0.975, np.asarray(dfs, dtype=float))
    return {
        **dl,
        "raw_weight": [float(v) for v in 1.0 - weight],
        "shrunk": [float(v) for v in shrunk],
        "shrunk_se": [float(v) for v in sd],
        "ci_log": [
            (float(m - c * v), float(m + c * v)) for m, c, v in zip(shrunk, crit, sd, strict=True)
        ],
    }
