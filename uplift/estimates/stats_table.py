"""The table of tasks as aligned numpy arrays: what every scope of `estimate_all` reads.

`prepare` checks the input's `COLUMNS`, orders the rows by task_id and factorises the labels
(team, task type, month, researcher, tools) into integer codes once per refresh; `groups`
splits a coded column into its subgroups, and `Analysed` gathers one scope's analysed tasks.
Nothing here imports Django.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from uplift.estimates.stats_checks import forecast_log_ratios, posthoc_log_ratios

COLUMNS = (
    "task_id",
    "researcher",
    "team",
    "task_type",
    "assignment",
    "ai_allowed",
    "allocation",
    "forecast_no_ai",
    "forecast_ai",
    "status",
    "actual_minutes",
    "perceived_other_minutes",
    "month",
    "tools",
)


@dataclass
class Tasks:
    """The input table as aligned numpy arrays, rows ordered by task_id."""

    n: int
    researcher: np.ndarray
    n_researchers: int
    team: np.ndarray
    team_labels: list
    task_type: np.ndarray
    task_type_labels: list
    month: np.ndarray
    month_labels: list
    randomized: np.ndarray
    self_selected: np.ndarray
    ai: np.ndarray
    allocation: np.ndarray
    # Randomization stratum of each task: its allocation's code among the distinct ones.
    stratum: np.ndarray
    n_strata: int
    completed: np.ndarray
    analysable: np.ndarray
    abandoned: np.ndarray
    actual: np.ndarray
    log_actual: np.ndarray
    log_forecast: np.ndarray
    forecast_ai: np.ndarray
    forecast_no_ai: np.ndarray
    perceived_other: np.ndarray
    any_tool: np.ndarray
    tool_used: dict
    # Derived once per refresh in prepare: per-task masks and log ratios that every
    # scope would otherwise recompute on its gathered rows.
    resolved: np.ndarray | None = None
    pooled: np.ndarray | None = None
    log_forecast_ratio: np.ndarray | None = None
    has_perceived: np.ndarray | None = None
    log_posthoc_ratio: np.ndarray | None = None
    # The input's task_id column, sorted (the rows' order): what a flagged task is named by.
    task_id: np.ndarray | None = None


def _factorize_sorted(values) -> tuple[np.ndarray, pd.Index]:
    # Sorted labels make group order independent of row order; missing values get code -1.
    try:
        codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    except TypeError:  # mixed int / str ids cannot be sorted
        codes, uniques = pd.factorize(values.astype(str), sort=True, use_na_sentinel=True)
    return codes.astype(np.int64), uniques


def _sorted_codes(
    values: pd.Series, valid: np.ndarray | None = None, *, as_object: bool = True
) -> tuple[np.ndarray, list]:
    """Codes 0..k-1 of the distinct values present, in sorted order (-1: missing or not `valid`).

    Returns the codes and the labels as str. A categorical column gives the same codes and
    labels as its values would: only the (few) categories are factorised, not the rows, and
    unused categories are dropped. Rows are in the table's order. `as_object` converts plain
    columns to Python objects first, as labels of team, task type and month always were; the
    researcher column skips it (integer ids factorise much faster as integers).
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories
        raw = values.cat.codes.to_numpy().astype(np.int64)
        if valid is not None:
            raw = np.where(valid, raw, -1)
        used = np.flatnonzero(np.bincount(raw[raw >= 0], minlength=len(categories)))
        present = categories.take(used)
        if present.dtype == object and all(type(v) is str for v in present):
            # Distinct strings (the loader's team, task type and month): their sorted order
            # is _factorize_sorted's, without building a Series per call (~1 ms each).
            uniques = sorted(present)
            position = {label: i for i, label in enumerate(uniques)}
            rank = np.array([position[label] for label in present], dtype=np.int64)
        else:
            rank, uniques = _factorize_sorted(pd.Series(present, dtype=object))
        # remap[-1] (the extra last slot) keeps missing rows at -1.
        remap = np.full(len(categories) + 1, -1, dtype=np.int64)
        remap[used] = rank
        return remap[raw], [str(u) for u in uniques]
    if as_object:
        values = values.astype(object)
    if valid is not None:
        values = values.where(valid)
    codes, uniques = _factorize_sorted(values)
    return codes, [str(u) for u in uniques]


def _equals(values: pd.Series) -> Callable[[str], np.ndarray]:
    # Compare factorised codes: much cheaper than string equality over a million rows.
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
    else:
        codes, uniques = pd.factorize(values)
    lookup = {str(u): i for i, u in enumerate(uniques)}
    return lambda label: codes == lookup.get(label, -2)


def _tool_usage(tools: pd.Series, order: np.ndarray) -> tuple[np.ndarray, dict]:
    # Factorise the (few distinct) tool tuples once instead of looping over a million rows.
    def as_tuple(value) -> tuple:
        if isinstance(value, tuple):
            return value
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ()
        return tuple(value)

    try:
        codes, combos = pd.factorize(tools, use_na_sentinel=False)
    except TypeError:  # lists are unhashable
        codes, combos = pd.factorize(tools.map(as_tuple), use_na_sentinel=False)
    codes = codes[order]
    combos = [as_tuple(c) for c in combos]
    any_tool = np.array([len(c) > 0 for c in combos], dtype=bool)[codes]
    names = sorted({str(name) for combo in combos for name in combo})
    used = {
        name: np.array([name in {str(x) for x in c} for c in combos], dtype=bool)[codes]
        for name in names
    }
    return any_tool, used


def _task_id_order(tasks: pd.DataFrame) -> np.ndarray:
    """The row permutation that sorts the table by task_id (stable, as `sort_values`)."""
    ids = tasks["task_id"].to_numpy()
    if ids.dtype.kind in "iu":
        # Unique ids have one sorting permutation, so the (5x faster) unstable sort gives the
        # stable sort's answer; repeated ids fall back to the stable sort.
        order = np.argsort(ids)
        ordered = ids[order]
        if ordered.size < 2 or np.all(ordered[1:] != ordered[:-1]):
            return order
        return np.argsort(ids, kind="stable")
    by_id = tasks["task_id"].reset_index(drop=True).sort_values(kind="stable")
    return by_id.index.to_numpy()


def prepare(tasks: pd.DataFrame) -> Tasks:
    """Columns of `tasks` as numpy arrays ordered by task_id.

    Only the resulting integer codes and float columns are reordered: factorising (whose sorted
    codes do not depend on row order) before reordering saves shuffling object columns.
    """
    missing = [c for c in COLUMNS if c not in tasks.columns]
    if missing:
        raise ValueError(f"tasks table lacks columns: {missing}")
    order = _task_id_order(tasks)

    def floats(name: str) -> np.ndarray:
        return tasks[name].to_numpy(dtype=float, na_value=np.nan)[order]

    # Sorted codes keep each scope's researcher order (and so its bootstrap) independent of
    # which other researchers exist.
    researcher, researcher_labels = _sorted_codes(tasks["researcher"], as_object=False)
    team, team_labels = _sorted_codes(tasks["team"])
    task_type, task_type_labels = _sorted_codes(tasks["task_type"])
    status = _equals(tasks["status"])
    assignment = _equals(tasks["assignment"])
    completed_unsorted = status("completed")
    # A month holds completed tasks only.
    month, month_labels = _sorted_codes(tasks["month"], valid=completed_unsorted)
    completed = completed_unsorted[order]
    actual = floats("actual_minutes")
    forecast_no_ai = floats("forecast_no_ai")
    forecast_ai = floats("forecast_ai")
    # A completed task enters a regression only with positive minutes and forecast.
    analysable = completed & (actual > 0) & (forecast_no_ai > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_actual = np.where(analysable, np.log(np.where(analysable, actual, 1.0)), np.nan)
        log_forecast = np.log(np.where(forecast_no_ai > 0, forecast_no_ai, np.nan))
    allocation = floats("allocation")
    allocation = np.where(np.isfinite(allocation), allocation, 0.5)
    strata, stratum = np.unique(np.round(allocation, 9), return_inverse=True)
    any_tool, tool_used = _tool_usage(tasks["tools"], order)
    perceived_other = floats("perceived_other_minutes")
    # The perception's terms once per task; each scope averages its own (stats_checks.perception).
    log_forecast_ratio = forecast_log_ratios(forecast_ai, forecast_no_ai)
    log_posthoc_ratio = posthoc_log_ratios(actual, perceived_other)
    randomized = assignment("randomized")[order]
    self_selected = assignment("self_selected")[order]
    abandoned = status("abandoned")[order]
    return Tasks(
        n=len(order),
        researcher=researcher[order],
        n_researchers=len(researcher_labels),
        team=team[order],
        team_labels=team_labels,
        task_type=task_type[order],
        task_type_labels=task_type_labels,
        month=month[order],
        month_labels=month_labels,
        randomized=randomized,
        self_selected=self_selected,
        ai=tasks["ai_allowed"].to_numpy(dtype=bool, na_value=False)[order],
        allocation=allocation,
        stratum=stratum.ravel(),
        n_strata=int(strata.size),
        completed=completed,
        analysable=analysable,
        abandoned=abandoned,
        actual=actual,
        log_actual=log_actual,
        log_forecast=log_forecast,
        forecast_ai=forecast_ai,
        forecast_no_ai=forecast_no_ai,
        perceived_other=perceived_other,
        any_tool=any_tool,
        tool_used=tool_used,
        resolved=completed | abandoned,
        pooled=analysable & (randomized | self_selected),
        log_forecast_ratio=log_forecast_ratio,
        has_perceived=np.isfinite(perceived_other),
        log_posthoc_ratio=log_posthoc_ratio,
        task_id=tasks["task_id"].to_numpy()[order],
    )


def groups(codes: np.ndarray, labels: list) -> list[tuple[str, np.ndarray]]:
    # One stable sort per dimension; each group's rows stay in task_id order.
    valid = np.flatnonzero(codes >= 0)
    keys = codes[valid]
    if len(labels) <= np.iinfo(np.int16).max:
        # numpy's stable sort is a radix sort for 16-bit keys: ~7x faster than on int64.
        keys = keys.astype(np.int16)
    order = valid[np.argsort(keys, kind="stable")]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes[valid], minlength=len(labels)))])
    return [(labels[i], order[bounds[i] : bounds[i + 1]]) for i in range(len(labels))]


@dataclass
class Analysed:
    """A scope's analysed tasks, each column gathered once and shared by every figure."""

    rows: np.ndarray
    y: np.ndarray
    ai: np.ndarray
    log_forecast: np.ndarray
    researcher: np.ndarray
    # Stratum codes, None when the refresh has a single stratum (the common case).
    stratum: np.ndarray | None = None

    @classmethod
    def gather(cls, t: Tasks, rows: np.ndarray) -> Analysed:
        stratum = t.stratum[rows] if t.n_strata > 1 else None
        return cls(
            rows, t.log_actual[rows], t.ai[rows], t.log_forecast[rows], t.researcher[rows], stratum
        )

    @functools.cached_property
    def ai_part(self) -> Analysed:
        """The AI-allowed tasks alone (compressed once, used by each of a tool row's fits)."""
        ai = self.ai
        stratum = None if self.stratum is None else self.stratum[ai]
        return Analysed(
            self.rows[ai], self.y[ai], ai[ai], self.log_forecast[ai], self.researcher[ai], stratum
        )
