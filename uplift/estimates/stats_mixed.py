"""Sensitivity "mixed model": a random intercept per researcher, fitted by REML from sums.

The model is y_gi = x_gi'b + u_g + e_gi with u_g ~ N(0, s2 * gamma) and e_gi ~ N(0, s2), the
random-intercept linear mixed model that statsmodels' `MixedLM(y, X, groups).fit(reml=True)`
fits. Researcher g's covariance is V_g = s2 (I + gamma J) (J all ones), whose inverse is
(I - w_g J) / s2 with w_g = gamma / (1 + gamma n_g) and whose determinant is
s2^n_g (1 + gamma n_g). Writing v_g = 1 / (1 + gamma n_g), every quantity of the REML
likelihood is a sum over researchers of the per-researcher counts n_g and column sums s_g
(of X) and t_g (of y), plus the whole sample's within-researcher cross-products W:

    X'V^-1 X = (W_xx + sum_g v_g s_g s_g' / n_g) / s2,  and likewise X'V^-1 y and y'V^-1 y.

So the tasks are read once (a few `np.bincount` passes); the likelihood, its derivative in
gamma and the Hessian of the standard errors then cost O(G k^2) for G researchers and k
columns, whatever the number of tasks. With s2 and b profiled out, the REML log-likelihood is

    l(gamma) = -1/2 [sum_g log(1 + gamma n_g) + log det A(gamma) + (n - k) log Q(gamma)]

(A = X'(I - wJ)X, Q the GLS residual quadratic form), maximised over gamma >= 0: a grid in
log gamma locates every rise and fall of dl/dgamma, Brent's root finder (`brentq`) solves
dl/dgamma = 0 in each bracket to rounding, and gamma = 0 is the boundary candidate when the
derivative there is not positive. The best candidate wins.

Standard errors are statsmodels' for MixedLM: the inverse of minus the Hessian of the
log-likelihood in (b, gamma) with s2 profiled out (including the cross terms between b and
gamma), so they equal `MixedLMResults.bse` for the same optimum. tests/estimates/
test_stats_mixed.py checks beta, se and the researcher variance against statsmodels.
Nothing here imports Django.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.linalg.lapack import dposv

from uplift.estimates.stats_fit import (
    CONSTANT_TOLERANCE,
    SINGULAR_CONDITION,
    Z_975,
    cluster_codes,
    stratum_columns,
)

# gamma (researcher variance / task variance) is searched on this grid of log10 values; below
# the grid the fit is compared with gamma = 0, above it the researcher variance is unbounded.
LOG10_GAMMA_GRID = np.arange(-9.0, 9.5, 2.0)
# dl/dgamma is solved to this relative precision in gamma (Brent's method, `brentq`).
GAMMA_RTOL = 1e-12
# The curvature of l in gamma (b profiled) must exceed this share of the size of its terms,
# 1/2 sum (n_g v_g)^2; below it the likelihood is flat in gamma (every researcher with one
# task, say) and the researcher variance is not identified.
MIN_CURVATURE = 1e-6


@dataclass
class ClusterSums:
    """What the REML fit needs of the tasks: per-researcher sums and within cross-products.

    `count` (n_g), `xsum` (G x k, s_g) and `ysum` (t_g) are per researcher with tasks;
    `within_xx`, `within_xy`, `within_yy` are sum_g (X_g'X_g - s_g s_g' / n_g) and the like.
    Columns and y are centred on their means first when the design has an intercept (a column
    of ones); `transform` and `y_shift` map the centred coefficients back: b = transform @ b_c,
    then b[intercept] += y_shift.
    """

    n: int
    k: int
    count: np.ndarray
    xsum: np.ndarray
    ysum: np.ndarray
    within_xx: np.ndarray
    within_xy: np.ndarray
    within_yy: float
    transform: np.ndarray
    y_shift: np.ndarray

    @classmethod
    def from_tasks(
        cls, y: np.ndarray, columns: list[np.ndarray], codes: np.ndarray, count: np.ndarray
    ):
        """The sums of float columns; `codes` are 0..len(count)-1, `count` their bincount."""
        n, k = y.shape[0], len(columns)
        present = count > 0
        count = count[present].astype(float)
        ones = [j for j, c in enumerate(columns) if _all_ones(c)]

        def per_researcher(values: np.ndarray) -> np.ndarray:
            return np.bincount(codes, weights=values, minlength=present.size)[present]

        # Per-researcher sums of the raw columns give the means; centring the columns (when
        # there is an intercept) keeps every slope and the likelihood, and spares the
        # cross-products the rounding of large means. A column of ones needs no pass at all.
        xsum = np.empty((count.size, k))
        means = np.zeros(k)
        for j, c in enumerate(columns):
            xsum[:, j] = count if j in ones else per_researcher(c)
        ysum = per_researcher(y)
        transform, y_shift = np.eye(k), np.zeros(k)
        if ones:
            means = np.where(np.isin(np.arange(k), ones), 0.0, xsum.sum(axis=0) / n)
            y_mean = float(ysum.sum() / n)
            columns = [c - m if m else c for c, m in zip(columns, means, strict=True)]
            y = y - y_mean
            xsum -= count[:, None] * means
            ysum = ysum - count * y_mean
            transform[ones[0]] -= means
            transform[ones[0], ones[0]] = 1.0
            y_shift[ones[0]] = y_mean
        # Totals of the cross-products; a column of ones has no within-researcher part (set
        # exactly below), so its products are not computed.
        xx, xy = np.zeros((k, k)), np.zeros(k)
        varying = [j for j in range(k) if j not in ones]
        for a, i in enumerate(varying):
            for j in varying[a:]:
                xx[i, j] = xx[j, i] = _dot(columns[i], columns[j])
            xy[i] = _dot(columns[i], y)
        yy = _dot(y, y)
        # Within-researcher cross-products: totals minus the between-researcher part.
        scaled = xsum / count[:, None]
        within_xx = xx - scaled.T @ xsum
        within_xy = xy - scaled.T @ ysum
        within_yy = yy - float(ysum @ (ysum / count))
        for j in ones:
            within_xx[j, :] = within_xx[:, j] = 0.0
            within_xy[j] = 0.0
        return cls(
            n=n,
            k=k,
            count=count,
            xsum=xsum,
            ysum=ysum,
            within_xx=within_xx,
            within_xy=within_xy,
            within_yy=within_yy,
            transform=transform,
            y_shift=y_shift,
        )


def _all_ones(column: np.ndarray) -> bool:
    # The first and last values rule out most other columns before a full pass.
    if column.size == 0 or column[0] != 1.0 or column[-1] != 1.0:
        return False
    return bool(np.all(column == 1.0))


def _codes(clusters) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of the clusters and their bincount (small non-negative ints used as is)."""
    arr = np.asarray(clusters)
    if arr.dtype.kind in "iu" and arr.size and arr.min() >= 0 and arr.max() < 4 * arr.size + 1024:
        codes = arr.astype(np.intp, copy=False)
    else:
        codes = cluster_codes(arr)[0]
    return codes, np.bincount(codes)


def _is_constant(values: np.ndarray) -> bool:
    # `stats_fit.is_constant` (spread <= 1e-9 * max(1, largest |value|)) in two passes.
    if values.size == 0:
        return True
    low, high = float(values.min()), float(values.max())
    return high - low <= CONSTANT_TOLERANCE * max(1.0, abs(low), abs(high))


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # numpy's own summation loop: OpenBLAS threads thrash when the Celery host is busy.
    return float(np.einsum("i,i->", a, b))


class _Reml:
    """The profiled REML log-likelihood of one sample, as a function of gamma >= 0.

    Every method takes a 1-D array of gammas and is vectorised over it (the grid is one call);
    the few numpy calls per evaluation keep a fit cheap for small scopes too.
    """

    def __init__(self, sums: ClusterSums):
        self.s = sums
        self.k = sums.k
        self.df = sums.n - sums.k
        g = sums.count.size
        # Per researcher: s_g s_g' (flattened), s_g t_g and t_g^2 over n_g, and n_g, side by
        # side, so that one product with the weights v_g gives A, X'Hy, y'Hy and sum n_g v_g.
        outer = (sums.xsum[:, :, None] * sums.xsum[:, None, :]).reshape(g, -1)
        self.outer = outer
        between = np.column_stack([outer, sums.xsum * sums.ysum[:, None], sums.ysum**2])
        self.table = np.column_stack([between / sums.count[:, None], sums.count])
        kk = self.k * self.k
        self.within = np.concatenate(
            [sums.within_xx.ravel(), sums.within_xy, [sums.within_yy, 0.0]]
        )
        self.slices = (slice(0, kk), slice(kk, kk + self.k), kk + self.k)

    def _solve(self, gamma: np.ndarray) -> tuple:
        # v_g, A (m x k x k), X'Hy, y'Hy, the GLS b and Q = y'Hy - b'X'Hy for each gamma.
        k = self.k
        v = 1.0 / (1.0 + np.multiply.outer(gamma, self.s.count))
        sums = self.within + v @ self.table
        xx, xy, yy = self.slices
        a = sums[:, xx].reshape(-1, k, k)
        b = sums[:, xy]
        a_inv = np.linalg.inv(a)
        beta = np.einsum("mij,mj->mi", a_inv, b)
        q = sums[:, yy] - np.einsum("mi,mi->m", b, beta)
        return v, a, a_inv, beta, q

    def loglike(self, gamma: np.ndarray) -> np.ndarray:
        """l(gamma) without constants; -inf where A is singular or Q is not positive."""
        v, a, _, _, q = self._solve(gamma)
        sign, logdet = np.linalg.slogdet(a)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = -0.5 * (-np.log(v).sum(axis=1) + logdet + self.df * np.log(q))
        return np.where((sign > 0) & (q > 0), value, -np.inf)

    def score(self, gamma: np.ndarray) -> np.ndarray:
        """dl/dgamma (b and s2 at their optimum for each gamma: the envelope theorem).

        dl/dgamma = -1/2 [sum n v + tr(A^-1 A') + f Q'/Q], A' = -sum v^2 s s',
        Q' = -sum v^2 e^2, e_g the researcher's GLS residual sum, f = n - k.
        """
        v, _, a_inv, beta, q = self._solve(gamma)
        sum_nv = v @ self.s.count
        v2 = v * v
        da = (v2 @ self.outer).reshape(a_inv.shape)
        e = self.s.ysum - beta @ self.s.xsum.T
        dq = np.einsum("mg,mg->m", v2 * e, e)
        trace = np.einsum("mij,mji->m", a_inv, da)
        return -0.5 * (sum_nv - trace - self.df * dq / q)

    def scalar_score(self, log_gamma: float) -> float:
        """`score` at one gamma = exp(log_gamma), with the fewest numpy calls (root search).

        One LAPACK `dposv` (Cholesky) solves A [b, A'] for the GLS b and tr(A^-1 A').
        """
        s, k = self.s, self.k
        v = 1.0 / (1.0 + math.exp(log_gamma) * s.count)
        v2 = v * v
        sums = self.within + v @ self.table
        xx, xy, yy = self.slices
        rhs = np.empty((k, k + 1))
        rhs[:, 0] = sums[xy]
        rhs[:, 1:] = (v2 @ self.outer).reshape(k, k)
        _, solved, info = dposv(sums[xx].reshape(k, k), rhs)
        if info != 0:
            return math.nan
        beta = solved[:, 0]
        q = float(sums[yy] - sums[xy] @ beta)
        e = s.ysum - s.xsum @ beta
        dq = float((v2 * e) @ e)
        return -0.5 * (float(sums[-1]) - float(np.trace(solved[:, 1:])) - self.df * dq / q)

    def at(self, gamma: float) -> tuple[np.ndarray, float, np.ndarray]:
        """The GLS b, Q and the Hessian of l in (b, gamma) at one gamma (s2 profiled out).

        This is statsmodels' `MixedLM.hessian`. With e_g the researcher's residual sum:
        H_bb = -f A / Q, H_bg = -f sum v^2 e s / Q and
        H_gg = 1/2 sum n^2 v^2 - f/2 (Q''/Q - Q'^2/Q^2) - 1/2 (tr A^-1 A'' - tr (A^-1 A')^2),
        with A' = -sum v^2 s s', A'' = 2 sum n v^3 s s', Q' = -sum v^2 e^2, Q'' = 2 sum n v^3 e^2.
        """
        s, k, f = self.s, self.k, self.df
        v, a, a_inv, beta, q = (x[0] for x in self._solve(np.array([gamma])))
        q = float(q)
        e = s.ysum - s.xsum @ beta
        v2, v3n = v * v, 2.0 * s.count * v**3
        a_inv_da = a_inv @ -(v2 @ self.outer).reshape(k, k)
        d2a = (v3n @ self.outer).reshape(k, k)
        dq = -float(v2 @ (e * e))
        d2q = float(v3n @ (e * e))
        h = np.empty((k + 1, k + 1))
        h[:k, :k] = -f * a / q
        h[:k, k] = h[k, :k] = -f * (s.xsum.T @ (v2 * e)) / q
        h[k, k] = (
            0.5 * float((s.count * s.count) @ v2)
            - 0.5 * f * (d2q / q - dq * dq / (q * q))
            - 0.5 * (np.trace(a_inv @ d2a) - np.trace(a_inv_da @ a_inv_da))
        )
        return beta, q, h


def _maximise(reml: _Reml) -> tuple[float, bool]:
    """The gamma >= 0 that maximises l, and whether a maximum was located.

    Candidates: gamma = 0 when dl/dgamma <= 0 there, and each root of dl/dgamma where it
    changes from positive to negative between grid points (solved by brentq in log gamma); the
    one with the largest l wins. False when l still rises at the top of the grid (researcher
    variance without bound) or the root search did not converge.
    """
    grid = 10.0**LOG10_GAMMA_GRID
    gammas = np.concatenate([[0.0], grid])
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = reml.score(gammas)
    candidates: list[tuple[float, bool]] = []
    if scores[0] <= 0:
        candidates.append((0.0, True))
    for i in np.flatnonzero((scores[:-1] > 0) & (scores[1:] <= 0)):
        high = math.log(gammas[i + 1])
        if scores[i + 1] == 0:
            candidates.append((gammas[i + 1], True))
            continue
        # Between gamma = 0 and the grid's first point, search down to gamma ~ 1e-27.
        low = math.log(gammas[i]) if i > 0 else high - 40.0
        try:
            root, info = optimize.brentq(
                reml.scalar_score, low, high, xtol=GAMMA_RTOL, full_output=True
            )
        except ValueError:  # no change of sign left in the first bracket
            continue
        candidates.append((math.exp(root), bool(info.converged)))
    if scores[-1] > 0:
        candidates.append((float(grid[-1]), False))
    if not candidates:
        return math.nan, False
    if len(candidates) == 1:
        return candidates[0]
    values = reml.loglike(np.array([c[0] for c in candidates]))
    best = int(np.argmax(values))
    return candidates[best] if np.isfinite(values[best]) else (math.nan, False)


def fit_random_intercept(y, exog, clusters, *, coef: int = 1) -> dict | None:
    """REML fit of y on the columns of `exog` with a random intercept per cluster (researcher).

    `exog` is an n x k array or a list of k columns (include the column of ones); `coef` is the
    reported column. Any fixed-effect columns (stratum dummies, say) can be added. Returns the
    keys of the sensitivity fit: `beta`, its `se` (statsmodels' MixedLM convention: inverse of
    minus the Hessian of the REML log-likelihood in (b, gamma) with the task variance profiled
    out), `ci_log` (z-based, statsmodels' convention for MixedLM), `converged`, `boundary`,
    `researcher_variance` (s2 * gamma), `task_variance` (s2), `n`, `n_clusters` and `params`.
    None when the model cannot be fitted: fewer than two clusters, n <= k, a singular design,
    or a non-finite beta or SE.

    `converged` is True when a maximum of the REML likelihood was located (a root of its
    derivative in gamma found by brentq, or gamma = 0 with a non-positive derivative there) and
    minus the Hessian there is positive definite, i.e. the curvature of l in gamma with b
    profiled out is negative beyond MIN_CURVATURE of its terms' size, so the SE is a valid
    curvature. It is False when the likelihood still rises as the researcher variance grows
    without bound (past gamma = 1e9), the root search failed, or the likelihood is flat in
    gamma (every researcher with a single task: the variance is not identified, and
    statsmodels warns that its Hessian is not positive definite). `boundary` is True when the
    estimate is gamma = 0: no variance between researchers beyond what the tasks show, and the
    fit is OLS with the REML variance. That is a valid estimate, not a failure: statsmodels
    only warns ("may be on the boundary"), its optimiser approaching 0 without reaching it.
    """
    y = np.ascontiguousarray(y, dtype=float)
    if isinstance(exog, np.ndarray) and exog.ndim == 2:
        exog = list(exog.T)
    columns = [np.ascontiguousarray(c, dtype=float) for c in exog]
    n, k = y.shape[0], len(columns)
    codes, count = _codes(clusters)
    n_clusters = int(np.count_nonzero(count))
    if n <= k or n_clusters < 2:
        return None
    sums = ClusterSums.from_tasks(y, columns, codes, count)
    total_xx = sums.within_xx + sums.xsum.T @ (sums.xsum / sums.count[:, None])
    if not np.all(np.isfinite(total_xx)) or np.linalg.cond(total_xx) > SINGULAR_CONDITION:
        return None
    reml = _Reml(sums)
    try:
        gamma, located = _maximise(reml)
        if not math.isfinite(gamma):
            return None
        gls, q, hessian = reml.at(gamma)
        cov = np.linalg.inv(-hessian)
        # -H is positive definite iff its (b, b) block (A / s2, always) and the Schur
        # complement in gamma, the curvature of l with b profiled out, are.
        k_block = hessian[:k, :k]
        curvature = -(hessian[k, k] - hessian[k, :k] @ np.linalg.solve(k_block, hessian[:k, k]))
    except np.linalg.LinAlgError:  # A singular at some gamma: a design at the edge of rank
        return None
    v_n = sums.count / (1.0 + gamma * sums.count)
    definite = bool(curvature > MIN_CURVATURE * 0.5 * float(v_n @ v_n))
    cov_b = sums.transform @ cov[:k, :k] @ sums.transform.T
    params = sums.transform @ gls + sums.y_shift
    beta = float(params[coef])
    variance = float(cov_b[coef, coef])
    se = math.sqrt(variance) if variance >= 0 else math.nan
    if not (math.isfinite(beta) and math.isfinite(se)):
        return None
    scale = q / reml.df
    return {
        "beta": beta,
        "se": se,
        "ci_log": (beta - Z_975 * se, beta + Z_975 * se),
        "converged": located and definite,
        "boundary": gamma == 0.0,
        "researcher_variance": scale * gamma,
        "task_variance": scale,
        "n": int(n),
        "n_clusters": int(n_clusters),
        "params": [float(p) for p in params],
    }


def fit_mixed_model(log_actual, ai, log_forecast, clusters, strata=None) -> dict | None:
    """Sensitivity "mixed model": the primary spec with a random intercept per researcher.

    `log(actual) = a + b * ai_allowed + c * log(forecast_no_ai) + u_researcher + e` by REML
    (`fit_random_intercept`); `beta` is b with statsmodels MixedLM's SE and a z interval. A
    constant forecast (`is_constant`) is dropped as in `fit_primary` (`covariate_dropped`), and
    `strata` add the same stratum intercepts (`stratum_columns`). Returns None when the model
    cannot be fitted.
    """
    log_actual = np.asarray(log_actual, dtype=float)
    log_forecast = np.asarray(log_forecast, float)
    dropped = _is_constant(log_forecast)
    columns = [np.ones(log_actual.shape[0]), np.asarray(ai, float)]
    if not dropped:
        columns.append(log_forecast)
    columns.extend(stratum_columns(strata))
    fit = fit_random_intercept(log_actual, columns, clusters, coef=1)
    if fit is None:
        return None
    return {**fit, "covariate_dropped": dropped}
