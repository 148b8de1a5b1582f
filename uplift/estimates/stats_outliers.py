"""Extreme tasks: which tasks of a scope to flag, and whether they move its headline.

The contract is docs/estimation.md. One absurd time (a task logged at 10,000
times its forecast) can swing a scope's estimate; the rule below flags such tasks so that a
sensitivity fit without them can be compared with the headline. Flagging changes no estimate:
the headline keeps every task.
"""

from __future__ import annotations

import math

import numpy as np

# The rule, on r = log(actual minutes) - log(no-AI forecast) over a scope's analysed tasks:
# a task is flagged when |r - median(r)| is above both
#   OUTLIER_MADS robust standard deviations (MAD_TO_SD * MAD(r), which estimates the standard
#   deviation of normal data; 5 of them is far beyond ordinary spread), and
#   OUTLIER_MIN_LOG_DISTANCE (log 3: a task within a factor of 3 of the scope's typical
#   ratio is never flagged, so a scope of near-identical ratios does not flag ordinary tasks).
# When MAD(r) is 0 (over half the tasks share one ratio) only the second condition applies.
OUTLIER_MADS = 5.0
MAD_TO_SD = 1.4826
OUTLIER_MIN_LOG_DISTANCE = math.log(3.0)
OUTLIER_RULE = (
    "|r - median(r)| > 5 x 1.4826 x MAD(r) and > log(3), "
    "r = log(actual minutes / forecast without AI), over the scope's analysed randomized tasks"
)
# A row stores the ids of at most this many flagged tasks (the smallest ids).
OUTLIER_IDS_KEPT = 200
# The significance level at which the headline and the fit without flagged tasks are compared.
OUTLIER_ALPHA = 0.05


def outlier_threshold(log_ratio: np.ndarray) -> tuple[float, float]:
    """The median of `log_ratio` and the distance from it beyond which a task is flagged.

    The distance is max(OUTLIER_MADS * MAD_TO_SD * MAD, OUTLIER_MIN_LOG_DISTANCE), which is
    the minimum distance alone when MAD is 0. NaN and NaN for no tasks.
    """
    r = np.asarray(log_ratio, dtype=float)
    if r.size == 0:
        return math.nan, math.nan
    median = float(np.median(r))
    mad = float(np.median(np.abs(r - median)))
    return median, max(OUTLIER_MADS * MAD_TO_SD * mad, OUTLIER_MIN_LOG_DISTANCE)


def outlier_mask(log_ratio: np.ndarray, threshold: tuple[float, float] | None = None) -> np.ndarray:
    """Which tasks the rule flags (True), given each task's log(actual / no-AI forecast).

    A task is flagged when its distance to the median exceeds `outlier_threshold`'s distance
    (strictly: a task exactly at the threshold is kept). `threshold` is that (median,
    distance) when already computed for the same `log_ratio`.
    """
    r = np.asarray(log_ratio, dtype=float)
    if r.size == 0:
        return np.zeros(0, dtype=bool)
    median, distance = outlier_threshold(r) if threshold is None else threshold
    return np.abs(r - median) > distance


def outlier_summary(flagged_ids: np.ndarray, threshold: tuple[float, float]) -> dict:
    """A row's `outliers`: how many tasks are flagged and which (the OUTLIER_IDS_KEPT smallest).

    `flagged_ids` are the flagged tasks' ids, `threshold` the scope's `outlier_threshold`:
    `median_log_ratio` and `threshold_log_distance` say how far from typical a flagged task is.
    """
    ids = np.sort(np.asarray(flagged_ids), kind="stable")
    median, distance = threshold
    return {
        "n_flagged": int(ids.size),
        "rule": OUTLIER_RULE,
        "task_ids": ids[:OUTLIER_IDS_KEPT].tolist(),
        "truncated": bool(ids.size > OUTLIER_IDS_KEPT),
        "median_log_ratio": median,
        "threshold_log_distance": distance,
    }


def outliers_change_result(
    headline_beta: float, headline_p: float, beta: float, p_value: float
) -> bool:
    """Whether the fit without flagged tasks changes the headline's conclusion.

    It does when its estimate has the opposite sign (both nonzero) or when one is significant
    at OUTLIER_ALPHA and the other is not.
    """
    opposite = headline_beta * beta < 0
    significance = (headline_p < OUTLIER_ALPHA) != (p_value < OUTLIER_ALPHA)
    return bool(opposite or significance)
