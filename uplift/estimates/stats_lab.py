"""The lab view: where acceleration comes from (docs/estimation.md, "The lab view")."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

LAB_SIMULATIONS = 10_000


def lab_view(
    minutes_by_type: Mapping[str, float],
    estimates_by_type: Mapping[str, tuple[float, float, float | None] | None],
    *,
    contributions: Mapping[str, np.ndarray] | None = None,
    simulations: int = LAB_SIMULATIONS,
    seed: int | list[int] = 20250710,
) -> dict:
    """Projected lab time and throughput for the current work mix with AI allowed.

    `s_k` is task type k's share of all logged completed minutes; `estimates_by_type[k]` is the
    type's (beta, se, df) (the headline CR2 se and its degrees of freedom) or None.
    `R = sum_k s_k * time_ratio_k`; the lab throughput multiplier is 1/R, with a 95% CI from
    `simulations` draws of the estimated betas. Without `contributions`, each is drawn as
    beta_k + se_k * T, T Student's t on the type's df (normal when df is None), types
    independent. With `contributions` (each estimated type's per-researcher CR2 contributions,
    aligned by researcher), the types are drawn jointly: the same researchers' effects move
    every type they work on, so the covariance of two types is the sum over researchers of
    their contributions' products (the diagonal is se_k^2). The draws are then multivariate t
    with that covariance on the smallest df of the estimated types.

    A type without an estimate is flagged and counted as unchanged (ratio 1), but not as known to
    be unchanged: in the draws its beta ~ N(0, sigma_u^2), where sigma_u^2 is the mean over the
    estimated types of beta_k^2 + se_k^2, the size of effect the lab has seen. Its share of the
    time is reported as `unestimated_share`. With no estimated type at all there is no projection:
    the figures are None and `reason` says why.
    Bottlenecks: each type's share of the remaining time `s_k * time_ratio_k / R`, and the lab
    throughput gain of doubling its speed (Amdahl's law): R / (R - s_k * time_ratio_k / 2) - 1.
    """
    types = sorted(minutes_by_type)
    total = float(sum(minutes_by_type[t] for t in types))
    empty = {
        "window_minutes": total,
        "R": None,
        "throughput_multiplier": None,
        "ci_low": None,
        "ci_high": None,
        "simulations": int(simulations),
        "types": [],
        "flagged_types": [],
        "bottlenecks": [],
        "unestimated_share": None,
        "reason": None,
    }
    if total <= 0:
        return {**empty, "reason": "No completed work in this view yet."}
    shares = np.array([minutes_by_type[t] / total for t in types])
    betas = np.zeros(len(types))
    ses = np.zeros(len(types))
    dfs = np.full(len(types), np.inf)
    estimated = np.zeros(len(types), dtype=bool)
    for i, name in enumerate(types):
        est = estimates_by_type.get(name)
        if est is not None:
            betas[i], ses[i] = est[0], est[1]
            if len(est) > 2 and est[2] is not None:
                dfs[i] = est[2]
            estimated[i] = True
    unestimated_share = float(shares[~estimated].sum())
    if not estimated.any():
        return {
            **empty,
            "unestimated_share": unestimated_share,
            "flagged_types": types,
            "reason": "No task type has an estimate yet: the projection needs at least one.",
        }
    ratios = np.where(estimated, np.exp(betas), 1.0)
    projected = float((shares * ratios).sum())

    # An unestimated type: beta 0 at the point, with the spread of the effects seen elsewhere.
    spread = math.sqrt(float(np.mean(betas[estimated] ** 2 + ses[estimated] ** 2)))
    sds = np.where(estimated, ses, spread)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((simulations, len(types)))
    joint = [i for i, name in enumerate(types) if estimated[i] and name in (contributions or {})]
    if joint and len(joint) == estimated.sum():
        # Multivariate t: correlated normals from the contributions, one chi-square per draw.
        by_type = [np.asarray(contributions[types[i]], dtype=float) for i in joint]
        width = max(v.size for v in by_type)  # aligned by researcher code; pad the shorter
        matrix = np.array([np.pad(v, (0, width - v.size)) for v in by_type])
        values, vectors = np.linalg.eigh(matrix @ matrix.T)
        root = vectors * np.sqrt(np.maximum(values, 0.0))
        df = float(np.min(dfs[joint]))
        scale = np.sqrt(df / rng.chisquare(df, simulations)) if np.isfinite(df) else 1.0
        noise[:, joint] = (noise[:, joint] @ root.T) * np.atleast_1d(scale)[:, None]
        sds = np.where(estimated, 1.0, spread)
    else:
        # Independent t draws; unestimated types (and estimates without df) are normal.
        finite = np.isfinite(dfs)
        if finite.any():
            noise[:, finite] = rng.standard_t(dfs[finite], size=(simulations, int(finite.sum())))
    with np.errstate(over="ignore"):  # a heavy-tailed draw beyond exp's range: infinite time
        draws = np.exp(betas + sds * noise)
    # einsum, not BLAS: OpenBLAS threads thrash on a busy worker host.
    multipliers = 1.0 / np.einsum("ij,j->i", draws, shares)
    ci_low, ci_high = (float(v) for v in np.percentile(multipliers, [2.5, 97.5]))

    rows = []
    for i, name in enumerate(types):
        remaining = shares[i] * ratios[i]
        doubled = projected - remaining / 2.0
        rows.append(
            {
                "task_type": name,
                "minutes": float(minutes_by_type[name]),
                "share": float(shares[i]),
                "time_ratio": float(ratios[i]),
                "estimated": bool(estimated[i]),
                "flagged": not bool(estimated[i]),
                "remaining_share": float(remaining / projected),
                "throughput_gain_if_doubled": float(projected / doubled - 1.0),
                "multiplier_if_doubled": float(1.0 / doubled),
            }
        )
    ranking = sorted(rows, key=lambda r: (-r["remaining_share"], r["task_type"]))
    return {
        **empty,
        "R": projected,
        "throughput_multiplier": 1.0 / projected,
        "ci_low": ci_low if math.isfinite(ci_low) else None,
        "ci_high": ci_high if math.isfinite(ci_high) else None,
        "types": rows,
        "flagged_types": [r["task_type"] for r in rows if r["flagged"]],
        "bottlenecks": [r["task_type"] for r in ranking],
        "unestimated_share": unestimated_share,
    }
