"""Statistics core of Uplift: every figure of docs/estimation.md, from one table of tasks.

`estimate_all` is the entry point used by the refresh job. The building blocks live in
`stats_table` (the table of tasks as arrays), `stats_fit` (regressions, Benjamini-Hochberg,
DerSimonian-Laird), `stats_checks` (sample rules, diagnostics, power, perception, paired
estimate) and `stats_lab` (lab view) and are re-exported here. Nothing in these modules imports
Django.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np
import pandas as pd

from uplift.estimates.stats_checks import (
    FEW_CLUSTERS,
    MIN_RESEARCHERS,
    MIN_TASKS_PER_ARM,
    NON_COMPLIANCE_SHARE,
    PAIRED_MIN_RESEARCHERS,
    attrition_by_arm,
    balance,
    compliance,
    forecast_log_ratios,
    has_enough_data,
    minimum_detectable_effect,
    minimum_detectable_speedup,
    paired_estimate,
    perception,
    posthoc_log_ratios,
    researchers_needed,
    sample_ratio_mismatch,
    tasks_more_needed,
    tasks_needed,
)
from uplift.estimates.stats_fit import (
    NOT_ESTIMABLE,
    Z_975,
    DegenerateDesign,
    NoAIRows,
    benjamini_hochberg,
    dersimonian_laird,
    exp_safe,
    expm1_safe,
    fit_no_covariate,
    fit_ols,
    fit_primary,
    fit_problem,
    fit_researcher_fixed_effects,
    fit_with_no_ai_rows,
    partial_pooling,
)
from uplift.estimates.stats_lab import lab_view
from uplift.estimates.stats_mixed import fit_mixed_model
from uplift.estimates.stats_outliers import (
    outlier_mask,
    outlier_summary,
    outlier_threshold,
    outliers_change_result,
)
from uplift.estimates.stats_table import COLUMNS, Analysed, Tasks, groups, prepare
from uplift.estimates.vocabulary import Dimension, EstimateRowData, RowStatus, WarningCode

__all__ = [
    "COLUMNS",
    "METHOD_VERSION",
    "DegenerateDesign",
    "attrition_by_arm",
    "balance",
    "benjamini_hochberg",
    "compliance",
    "dersimonian_laird",
    "estimate_all",
    "fit_mixed_model",
    "fit_no_covariate",
    "fit_ols",
    "fit_primary",
    "fit_researcher_fixed_effects",
    "forecast_log_ratios",
    "has_enough_data",
    "lab_view",
    "minimum_detectable_effect",
    "minimum_detectable_speedup",
    "paired_disagrees",
    "paired_estimate",
    "partial_pooling",
    "perception",
    "posthoc_log_ratios",
    "ratio_interval",
    "researchers_needed",
    "RowCache",
    "sample_ratio_mismatch",
    "tasks_more_needed",
    "tasks_needed",
]

METHOD_VERSION = "2025.3"


def ratio_interval(beta: float, se: float, crit: float) -> tuple[float, float]:
    """A CI on the ratio scale: exp(b -/+ crit * se) - 1."""
    return expm1_safe(beta - crit * se), expm1_safe(beta + crit * se)


def _scope_seed(seed: int, dimension: str, group) -> list[int]:
    # The lab view's draws depend only on the seed and its name, not on which scopes exist.
    return [int(seed), zlib.crc32(dimension.encode()), zlib.crc32(str(group).encode())]


def _fit_summary(fit: dict | None, **extra) -> dict | None:
    if fit is None:
        return None
    low, high = fit["ci_log"]
    se = fit["se"]["cr2"] if isinstance(fit["se"], dict) else fit["se"]
    return {
        "beta": fit["beta"],
        "time_change": expm1_safe(fit["beta"]),
        "ci_low": expm1_safe(low),
        "ci_high": expm1_safe(high),
        "se": se,
        "n_tasks": fit["n"],
        "covariate_dropped": bool(fit.get("covariate_dropped", False)),
        **extra,
    }


def _try(fitter, *args, **kwargs) -> dict | None:
    try:
        return fitter(*args, **kwargs)
    except DegenerateDesign:
        return None


@dataclass
class _Options:
    target_mde: float
    seed: int
    # Tool rows only: the AI-not-allowed analysed tasks every tool scope shares, randomized
    # (primary and no-covariate fits) and randomized or self-selected (self-selected-included).
    no_ai: NoAIRows | None = None
    pooled_no_ai: NoAIRows | None = None
    # With several strata, tool rows are fitted on their concatenated rows (fit_primary).
    no_ai_rows: np.ndarray | None = None
    pooled_no_ai_rows: np.ndarray | None = None


@dataclass
class _Scope:
    """One row's tasks: each column gathered once and shared by every figure of the row.

    `design` holds the scope's randomized tasks (its self-selected ones for the observational
    row) and `done` the analysed ones among them: completed, with positive minutes and forecast.
    """

    dimension: Dimension
    group: str | None
    # Every task of the scope, whatever its assignment (the self-selected-included fit's).
    tasks: np.ndarray
    design: np.ndarray
    done: Analysed
    n_ai: int
    n_no_ai: int
    n_researchers: int

    @classmethod
    def gather(cls, t: Tasks, dimension: Dimension, group: str | None, idx: np.ndarray) -> _Scope:
        # Columns are gathered once per scope (design rows, then analysed rows) and reused:
        # fancy indexing the same rows again for every figure cost ~30 gathers per scope.
        assigned = t.self_selected if dimension == Dimension.OBSERVATIONAL else t.randomized
        design = idx[assigned[idx]]
        done = Analysed.gather(t, design[t.analysable[design]])
        n_ai = int(done.ai.sum())
        return cls(
            dimension=dimension,
            group=group,
            tasks=idx,
            design=design,
            done=done,
            n_ai=n_ai,
            n_no_ai=int(done.rows.size - n_ai),
            n_researchers=int(np.count_nonzero(np.bincount(done.researcher, minlength=1))),
        )

    @property
    def observational(self) -> bool:
        return self.dimension == Dimension.OBSERVATIONAL


def _fit_tool(
    shared: NoAIRows,
    own: Analysed,
    *,
    covariate: bool = True,
    t: Tasks | None = None,
    shared_rows: np.ndarray | None = None,
) -> dict | None:
    """A tool row's fit: its AI-allowed tasks beside the shared AI-not-allowed ones.

    Each tool scope holds all ~half a million AI-not-allowed tasks; refitting them per tool was
    a quarter of the refresh. `fit_with_no_ai_rows` reuses their sums (equal within 1e-9).
    With several randomization strata the concatenated rows are fitted with stratum
    intercepts instead (`t` and `shared_rows` given).
    """
    own = own.ai_part
    if own.stratum is not None and t is not None and shared_rows is not None:
        both = Analysed.gather(t, np.concatenate([shared_rows, own.rows]))
        if covariate:
            return _try(
                fit_primary, both.y, both.ai, both.log_forecast, both.researcher, both.stratum
            )
        return _try(fit_no_covariate, both.y, both.ai, both.researcher, both.stratum)
    return _try(
        fit_with_no_ai_rows,
        shared,
        own.y,
        own.log_forecast,
        own.researcher,
        covariate=covariate,
    )


def _sensitivity(t: Tasks, scope: _Scope, opts: _Options) -> dict:
    """The sensitivity fits of a row (docs/estimation.md, "Sensitivity fits"), outliers aside."""
    done, idx = scope.done, scope.tasks
    y, ai, lf, res, strata = done.y, done.ai, done.log_forecast, done.researcher, done.stratum
    mixed = fit_mixed_model(y, ai, lf, res, strata)
    # Self-selected tasks of the same scope join the randomized ones, for contrast only.
    if scope.dimension == Dimension.TOOL:
        pooled_ai = Analysed.gather(t, idx[t.pooled[idx] & t.ai[idx]])
        no_covariate = _fit_tool(
            opts.no_ai, done, covariate=False, t=t, shared_rows=opts.no_ai_rows
        )
        self_selected_included = _fit_tool(
            opts.pooled_no_ai, pooled_ai, t=t, shared_rows=opts.pooled_no_ai_rows
        )
    else:
        pooled = Analysed.gather(t, idx[t.pooled[idx]])
        no_covariate = _try(fit_no_covariate, y, ai, res, strata)
        self_selected_included = _try(
            fit_primary, pooled.y, pooled.ai, pooled.log_forecast, pooled.researcher, pooled.stratum
        )
    return {
        "no_covariate": _fit_summary(no_covariate),
        "researcher_fixed_effects": _fit_summary(
            _try(fit_researcher_fixed_effects, y, ai, lf, res, strata)
        ),
        "mixed_model": mixed
        and _fit_summary(
            mixed,
            converged=mixed["converged"],
            boundary=mixed["boundary"],
            researcher_variance=mixed["researcher_variance"],
        ),
        "self_selected_included": _fit_summary(self_selected_included),
    }


def _outliers(t: Tasks, done: Analysed) -> tuple[dict, dict | None]:
    """The scope's flagged tasks (`outlier_mask`) and the primary fit without them.

    The fit is `fit_primary` on the other analysed tasks (a tool row's too: its AI-allowed
    tasks and the shared AI-not-allowed ones, concatenated), None when no task is flagged or
    the fit is not estimable.
    """
    log_ratio = done.y - done.log_forecast
    threshold = outlier_threshold(log_ratio)
    flagged = outlier_mask(log_ratio, threshold)
    summary = outlier_summary(t.task_id[done.rows[flagged]], threshold)
    if not summary["n_flagged"]:
        return summary, None
    keep = ~flagged
    strata = None if done.stratum is None else done.stratum[keep]
    fit = _try(
        fit_primary,
        done.y[keep],
        done.ai[keep],
        done.log_forecast[keep],
        done.researcher[keep],
        strata,
    )
    if fit is None or fit_problem(fit) is not None:
        return summary, None
    return summary, _fit_summary(fit, p_value=fit["p_value"])


def _null_figures() -> dict:
    return {
        "beta": None,
        "time_ratio": None,
        "time_change": None,
        "speedup": None,
        "ci_low": None,
        "ci_high": None,
        "se": None,
        "ci_z": None,
        "df": None,
        "effective_researchers": None,
        "p_value": None,
        "q_value": None,
        "mde": None,
        "mde_faster": None,
        "tasks_needed": None,
        "researchers_needed": None,
        "forecast_time_change": None,
        "posthoc_time_change": None,
        "n_posthoc": None,
        "perception_gap_forecast": None,
        "perception_gap_posthoc": None,
        "pooled": None,
        "paired": None,
        "sensitivity": None,
        "outliers": None,
    }


# Key of a task-type row's per-researcher CR2 contributions, used by the lab view only.
_CONTRIBUTIONS = "_cr2_contributions"

# Why a row has no figures, by status (not_estimable rows say which NOT_ESTIMABLE key).
NO_ESTIMATE = {
    WarningCode.INSUFFICIENT_DATA: (
        "Fewer than 5 completed tasks in an arm or fewer than 3 researchers."
    ),
    WarningCode.DEGENERATE_DESIGN: (
        "The AI effect is not identified: the arm and the forecast coincide."
    ),
}
# Failures of one scope's arithmetic: that row is not estimable, the refresh goes on.
NUMERIC_ERRORS = (ArithmeticError, ValueError, np.linalg.LinAlgError)


def _diagnostics(t: Tasks, scope: _Scope) -> dict:
    """The design checks of a row, computed whether or not it gets an estimate."""
    design, done = scope.design, scope.done
    design_ai = t.ai[design]
    resolved = t.resolved[design]
    return {
        # Tool rows select AI tasks by a post-treatment choice, and self-selection has no plan.
        "sample_ratio": None
        if scope.dimension in (Dimension.TOOL, Dimension.OBSERVATIONAL)
        else sample_ratio_mismatch(design_ai, t.allocation[design]),
        "balance": balance(done.ai, done.log_forecast),
        "compliance": compliance(done.ai, t.any_tool[done.rows]),
        # A month holds only completed tasks, so abandonment is not defined for it.
        "attrition": None
        if scope.dimension == Dimension.MONTH
        else attrition_by_arm(design_ai[resolved], t.abandoned[design][resolved]),
    }


def _design_warnings(scope: _Scope, diagnostics: dict) -> list[WarningCode]:
    """The warnings a row carries whatever its figures: what its tasks are, failed checks."""
    warnings = []
    if scope.observational:
        warnings.append(WarningCode.OBSERVATIONAL)
    if scope.dimension == Dimension.TOOL:
        warnings.append(WarningCode.DESCRIPTIVE)
    if diagnostics["sample_ratio"] and diagnostics["sample_ratio"]["warn"]:
        warnings.append(WarningCode.SAMPLE_RATIO_MISMATCH)
    if diagnostics["attrition"] and diagnostics["attrition"]["warn"]:
        warnings.append(WarningCode.DIFFERENTIAL_ATTRITION)
    if diagnostics["compliance"]["warn"]:
        warnings.append(WarningCode.NON_COMPLIANCE)
    return warnings


def _row_without_figures(scope: _Scope, diagnostics: dict) -> EstimateRowData:
    """A row with its counts, diagnostics and design warnings, every figure null."""
    return {
        "dimension": scope.dimension,
        "group": scope.group,
        "status": RowStatus.OK,
        "n_tasks": int(scope.done.rows.size),
        "n_ai": scope.n_ai,
        "n_no_ai": scope.n_no_ai,
        "n_researchers": scope.n_researchers,
        "n_scope_tasks": int(scope.design.size),
        **_null_figures(),
        "warnings": _design_warnings(scope, diagnostics),
        "tasks_more_needed": None,
        "reason": None,
        "diagnostics": diagnostics,
    }


def _primary_fit(t: Tasks, scope: _Scope, opts: _Options) -> dict | None:
    """The row's primary fit (a tool row's beside the shared AI-not-allowed tasks).

    None when the design cannot identify the AI coefficient.
    """
    done = scope.done
    if scope.dimension == Dimension.TOOL:
        return _fit_tool(opts.no_ai, done, t=t, shared_rows=opts.no_ai_rows)
    return _try(fit_primary, done.y, done.ai, done.log_forecast, done.researcher, done.stratum)


def _headline(fit: dict) -> dict:
    """The effect of AI allowed from the primary fit: ratio, change, intervals, p-value."""
    beta, se = fit["beta"], fit["se"]
    ci_low, ci_high = (expm1_safe(v) for v in fit["ci_log"])
    return {
        "beta": beta,
        "time_ratio": exp_safe(beta),
        "time_change": expm1_safe(beta),
        "speedup": exp_safe(-beta),
        "ci_low": ci_low,
        "ci_high": ci_high,
        "se": dict(se),
        # METR's published z intervals of the three classic SEs (the replication view).
        "ci_z": {
            key: list(ratio_interval(beta, se[key], Z_975))
            for key in ("nonrobust", "hc3", "cluster")
        },
        "df": fit["df"],
        "effective_researchers": fit["df"] + 1.0,
        "p_value": fit["p_value"],
    }


def _power(fit: dict, scope: _Scope, opts: _Options) -> dict:
    """Minimum detectable effects, and the tasks or researchers that would reach the target."""
    se, df = fit["se"]["cr2"], fit["df"]
    return {
        "mde": minimum_detectable_effect(se, df),
        "mde_faster": minimum_detectable_speedup(se, df),
        "tasks_needed": tasks_needed(scope.done.rows.size, se, opts.target_mde, df),
        "researchers_needed": researchers_needed(scope.n_researchers, se, opts.target_mde),
    }


def _perception(t: Tasks, scope: _Scope, time_change: float) -> dict:
    """The time changes researchers forecast and perceived, and their gaps to the measured one.

    `perception` on the scope's terms, computed once per task in `prepare`.
    """
    done = scope.done
    # Completed AI-allowed tasks that give a perceived time enter the post-hoc perception.
    asked = done.ai & t.has_perceived[done.rows]
    return perception(
        t.log_forecast_ratio[scope.design], t.log_posthoc_ratio[done.rows[asked]], time_change
    )


def _paired(t: Tasks, scope: _Scope) -> dict | None:
    """The within-block estimate of the row (`paired_estimate`)."""
    done = scope.done
    return paired_estimate(
        done.y - done.log_forecast, done.ai, done.researcher, t.task_type[done.rows]
    )


def _add_figures(row: EstimateRowData, t: Tasks, scope: _Scope, fit: dict, opts: _Options) -> None:
    """Every figure of a row whose primary fit is reportable, and the warnings they raise."""
    warnings = row["warnings"]
    if fit["covariate_dropped"]:
        warnings.append(WarningCode.CONSTANT_FORECAST)
    row.update(_headline(fit))
    row.update(_perception(t, scope, row["time_change"]))
    row["paired"] = _paired(t, scope)
    row.update(_power(fit, scope, opts))
    row["sensitivity"] = None if scope.observational else _sensitivity(t, scope, opts)
    # Effective researchers: the headline's degrees of freedom plus one, which is about G for
    # equal researchers and falls towards 2 as one researcher carries more of the tasks;
    # fewer than 10 (to the nearest whole researcher) warns.
    if row["effective_researchers"] < FEW_CLUSTERS - 0.5:
        warnings.append(WarningCode.FEW_CLUSTERS)
    if paired_disagrees(row["paired"], row["ci_low"], row["ci_high"]):
        warnings.append(WarningCode.PAIRED_DISAGREES)
    if not scope.observational:
        row["outliers"], without = _outliers(t, scope.done)
        row["sensitivity"]["without_outliers"] = without
        if without and outliers_change_result(
            fit["beta"], fit["p_value"], without["beta"], without["p_value"]
        ):
            warnings.append(WarningCode.OUTLIERS_CHANGE_RESULT)
    if scope.dimension == Dimension.TASK_TYPE:
        # For the lab view's covariance between task types; removed before the row is stored.
        row[_CONTRIBUTIONS] = fit["cr2_contributions"]


def _estimate_scope(
    t: Tasks, scope: _Scope, opts: _Options, failure: str | None = None
) -> EstimateRowData:
    """One estimate row: counts, diagnostics and, when the sample rules pass, all figures.

    With `failure` (the reason an earlier attempt failed) no fit is tried: the row is
    `not_estimable` with that reason.
    """
    row = _row_without_figures(scope, _diagnostics(t, scope))
    warnings = row["warnings"]
    fit = None
    if failure is None and has_enough_data(scope.n_ai, scope.n_no_ai, scope.n_researchers):
        fit = _primary_fit(t, scope, opts)
        if fit is None:
            warnings.append(WarningCode.DEGENERATE_DESIGN)
    problem = failure or (None if fit is None else fit_problem(fit))
    if problem is not None:
        row["status"] = RowStatus.NOT_ESTIMABLE
        row["reason"] = NOT_ESTIMABLE.get(problem, problem)
        warnings.insert(0, WarningCode.NOT_ESTIMABLE)
    elif fit is None:
        row["status"] = RowStatus.INSUFFICIENT_DATA
        row["tasks_more_needed"] = tasks_more_needed(scope.n_ai, scope.n_no_ai, scope.n_researchers)
        degenerate = WarningCode.DEGENERATE_DESIGN in warnings
        row["reason"] = NO_ESTIMATE[
            WarningCode.DEGENERATE_DESIGN if degenerate else WarningCode.INSUFFICIENT_DATA
        ]
        warnings.insert(0, WarningCode.INSUFFICIENT_DATA)
    else:
        _add_figures(row, t, scope, fit, opts)
    return row


def _estimate_scope_or_failure(t: Tasks, scope: _Scope, opts: _Options) -> EstimateRowData:
    """`_estimate_scope`, or its not-estimable row when its arithmetic fails."""
    try:
        return _estimate_scope(t, scope, opts)
    except NUMERIC_ERRORS as error:
        failure = f"The estimate failed on a numeric error: {type(error).__name__}: {error}"
        return _estimate_scope(t, scope, opts, failure=failure)


class RowCache:
    """Rows already estimated during one refresh, by the tasks they cover.

    A refresh estimates overlapping slices of one table of tasks: the organisation, each team
    and their date ranges. A team's overall row holds the same tasks as the organisation's row
    for that team, and a month's row in a date range usually holds the same tasks as that
    month's row over all time. A row's figures depend only on its own tasks (researchers are
    coded in sorted order, draws are seeded by name), so such a row is estimated once and
    copied: 1,200 of the 5,800 rows of a full refresh at 25,000 tasks
    (docs/performance.md, "Refresh: rows estimated once").

    Cached: overall and team rows (one family: their rules are the same) and month rows, keyed
    by the task ids they cover and whether the slice has several randomization strata. Not
    task-type rows (the lab view reads their per-researcher terms, coded per slice) nor tool
    rows (they share the slice's AI-not-allowed tasks). Share one cache only among calls on
    subsets of one table of tasks, read once.
    """

    _FAMILIES = {Dimension.OVERALL: "whole", Dimension.TEAM: "whole", Dimension.MONTH: "month"}

    def __init__(self) -> None:
        self._rows: dict[tuple, EstimateRowData] = {}
        self.hits = 0

    def estimate(self, t: Tasks, scope: _Scope, opts: _Options) -> EstimateRowData:
        family = self._FAMILIES.get(scope.dimension)
        if family is None:
            return _estimate_scope_or_failure(t, scope, opts)
        tasks = hashlib.blake2b(t.task_id[scope.tasks].tobytes(), digest_size=16).digest()
        key = (family, t.n_strata > 1, opts.target_mde, opts.seed, tasks)
        cached = self._rows.get(key)
        if cached is None:
            row = _estimate_scope_or_failure(t, scope, opts)
            # Later steps set top-level keys (q-value, pooling) on the row they were given.
            self._rows[key] = {**row, "warnings": list(row["warnings"])}
            return row
        self.hits += 1
        return {
            **cached,
            "dimension": scope.dimension,
            "group": scope.group,
            "warnings": list(cached["warnings"]),
        }


def paired_disagrees(paired: dict | None, ci_low: float, ci_high: float) -> bool:
    """Whether the paired estimate disagrees with the primary one beyond their intervals.

    Disagreement means the paired 95% CI and the headline 95% CI do not overlap.
    """
    if not paired or paired["ci_low"] is None:
        return False
    return paired["ci_low"] > ci_high or paired["ci_high"] < ci_low


def _add_q_values_and_pooling(rows: list[EstimateRowData], dimension: Dimension) -> None:
    """The figures that compare one dimension's rows: q-values, and pooling for subgroups.

    A dimension of a single row (overall, observational) has its p-value as q-value.
    """
    ok = [r for r in rows if r["status"] == RowStatus.OK]
    if dimension not in Dimension.subgroups():
        for r in ok:
            r["q_value"] = r["p_value"]
        return
    for r, q in zip(ok, benjamini_hochberg([r["p_value"] for r in ok]), strict=True):
        r["q_value"] = q
    _add_pooling(ok)


def _add_pooling(ok: list[EstimateRowData]) -> None:
    """Each estimated subgroup partially pooled toward its dimension's mean (`pooled`)."""
    pooled = partial_pooling(
        [r["beta"] for r in ok], [r["se"]["cr2"] for r in ok], [r["df"] for r in ok]
    )
    if pooled is None:
        return
    for i, r in enumerate(ok):
        b, s = pooled["shrunk"][i], pooled["shrunk_se"][i]
        low, high = (expm1_safe(v) for v in pooled["ci_log"][i])
        if not all(math.isfinite(v) for v in (b, s, low, high)):
            continue  # no pooled figures rather than a half-null interval
        r["pooled"] = {
            "beta": b,
            "se": s,
            "time_change": expm1_safe(b),
            "ci_low": low,
            "ci_high": high,
            "raw_weight": pooled["raw_weight"][i],
            "tau2": pooled["tau2"],
            "mean_time_change": expm1_safe(pooled["mean"]),
            "k": pooled["k"],
        }


def _json_safe(value):
    # Snapshots are stored as JSON: plain Python types, NaN and infinities become null.
    # The exact plain types first: most of the ~4,000 values of a small call are these.
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, Enum):
        return value.value  # a dimension, status or warning code as the plain string
    return value


def _options(t: Tasks, *, target_mde: float, seed: int) -> _Options:
    """The refresh's settings, and the AI-not-allowed tasks every tool row shares, if any."""
    opts = _Options(target_mde=float(target_mde), seed=int(seed))
    if t.tool_used:

        def no_ai_rows(rows: np.ndarray) -> NoAIRows:
            return NoAIRows(
                t.log_actual[rows], t.log_forecast[rows], t.researcher[rows], t.n_researchers
            )

        opts.no_ai_rows = np.flatnonzero(t.randomized & t.analysable & ~t.ai)
        opts.pooled_no_ai_rows = np.flatnonzero(t.pooled & ~t.ai)
        opts.no_ai = no_ai_rows(opts.no_ai_rows)
        opts.pooled_no_ai = no_ai_rows(opts.pooled_no_ai_rows)
    return opts


def _scopes_by_dimension(t: Tasks) -> list[tuple[Dimension, list[tuple[str | None, np.ndarray]]]]:
    """Each dimension and its scopes (group label, task rows), in the order of the rows."""
    everything = np.arange(t.n)
    # Tool rows: AI-allowed tasks that used the tool, plus every AI-not-allowed task.
    tool_scopes = [
        (name, np.flatnonzero(used | ~t.ai)) for name, used in sorted(t.tool_used.items())
    ]
    return [
        (Dimension.OVERALL, [(None, everything)]),
        (Dimension.TEAM, groups(t.team, t.team_labels)),
        (Dimension.TASK_TYPE, groups(t.task_type, t.task_type_labels)),
        (Dimension.MONTH, groups(t.month, t.month_labels)),
        (Dimension.TOOL, tool_scopes),
        (Dimension.OBSERVATIONAL, [(None, everything)]),
    ]


def _lab(t: Tasks, type_rows: list[EstimateRowData], seed: int) -> dict:
    """`lab_view` over the task-type rows, weighted by each type's completed minutes.

    Takes the rows' per-researcher CR2 contributions out of them (they are not stored).
    """
    type_estimates = {
        r["group"]: (r["beta"], r["se"]["cr2"], r["df"]) if r["status"] == RowStatus.OK else None
        for r in type_rows
    }
    contributions = {r["group"]: r.pop(_CONTRIBUTIONS) for r in type_rows if _CONTRIBUTIONS in r}
    completed_minutes = t.completed & np.isfinite(t.actual) & (t.task_type >= 0)
    minutes = np.bincount(
        t.task_type[completed_minutes],
        weights=t.actual[completed_minutes],
        minlength=len(t.task_type_labels),
    )
    return lab_view(
        {label: float(minutes[i]) for i, label in enumerate(t.task_type_labels) if minutes[i] > 0},
        type_estimates,
        contributions=contributions,
        seed=_scope_seed(seed, "lab", None),
    )


def _method(opts: _Options) -> dict:
    """The method's version and the constants of its rules, stored with the snapshot."""
    return {
        "version": METHOD_VERSION,
        "target_mde": opts.target_mde,
        "paired_min_researchers": PAIRED_MIN_RESEARCHERS,
        "seed": opts.seed,
        "min_tasks_per_arm": MIN_TASKS_PER_ARM,
        "min_researchers": MIN_RESEARCHERS,
        "few_clusters": FEW_CLUSTERS,
        "non_compliance_share": NON_COMPLIANCE_SHARE,
        "mixed_model": "all_scopes",
    }


def estimate_all(
    tasks: pd.DataFrame,
    *,
    target_mde: float = 0.10,
    seed: int = 20250710,
    progress: Callable[[int, int], None] | None = None,
    cache: RowCache | None = None,
) -> dict:
    """Every estimate for one table of tasks (one row per task, `COLUMNS`).

    The statistics (scopes, the primary fit with its CR2 interval and randomization strata,
    sample rules, diagnostics, power, perception, pooling, the paired estimate, sensitivity
    fits, outlier flags and the lab view) are specified in docs/estimation.md; this function
    implements that contract, and `METHOD_VERSION` names its revision. Each row of `estimates`
    is one scope; `lab` is `lab_view` over task types; `method` records the rules' constants.

    Engineering rules:

    - No value of the data makes a refresh fail. exp and expm1 give infinity (null in the
      JSON) instead of overflowing, a variance made negative by rounding is 0, and a zero SE
      gives an infinite or NaN t instead of dividing by zero. A row is `ok` only when
      `fit_problem` accepts its fit; otherwise it is `not_estimable` (first warning too) with a
      `reason`, its figures null, and the other rows are computed and stored as usual. Every
      row whose status is not `ok` has a `reason` sentence (None on ok rows). Secondary figures
      that are not finite (an MDE, tasks needed, a pooled interval) are null or absent.
    - Same data, same numbers: inputs are sorted by task_id, rows are ordered by dimension then
      group label, and the only random draws (the lab view's) are seeded by `seed` and the
      scope's name. `progress(done, total)` is called after each scope and after the lab view.
    - Windows ("last 3 / 6 / 12 months") are this function on the tasks randomized in those
      calendar months (`compute.scope_plan`); its month rows still group completed tasks by
      month of completion.
    - Input columns: team, task_type, status, assignment, month and researcher may be
      `pandas.Categorical` (as the Django loader passes them) or integer codes instead of
      strings; the result is identical to passing the values themselves. Unused categories are
      ignored, category order does not matter (groups are ordered by their values), and group
      labels in the output are the category labels as str. `allocation` is each task's
      probability of AI allowed (0.5 when missing); its distinct values are the strata.
    - `cache` (a `RowCache`) shares rows between calls on slices of one table of tasks: a
      row whose tasks an earlier call estimated is copied, with the same figures.
    """
    t = prepare(tasks)
    opts = _options(t, target_mde=target_mde, seed=seed)
    plan = _scopes_by_dimension(t)
    total = sum(len(scopes) for _, scopes in plan) + 1
    estimates, finished = [], 0
    for dimension, scopes in plan:
        rows = []
        for group, idx in scopes:
            scope = _Scope.gather(t, dimension, group, idx)
            if cache is None:
                rows.append(_estimate_scope_or_failure(t, scope, opts))
            else:
                rows.append(cache.estimate(t, scope, opts))
            finished += 1
            if progress is not None:
                progress(finished, total)
        _add_q_values_and_pooling(rows, dimension)
        estimates.extend(rows)
    lab = _lab(t, [r for r in estimates if r["dimension"] == Dimension.TASK_TYPE], seed)
    if progress is not None:
        progress(total, total)
    return _json_safe({"estimates": estimates, "lab": lab, "method": _method(opts)})
