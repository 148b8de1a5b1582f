"""How often `differential_attrition` fires: false alarms at equal abandonment, and power.

Run from the repository root: `.venv/bin/python bench/attrition_false_alarms.py [datasets]`
(default 20,000 per cell; about a minute). Each simulated scope has n resolved tasks per arm;
each task is abandoned with its arm's probability (seeded). A scope raises the warning when
`attrition_by_arm` says so. Prints, per size and abandonment rate, the share of scopes that
warn with its Monte-Carlo standard error sqrt(r (1 - r) / datasets), beside the rule used
before (a gap over 5 points or Pearson chi-square p < 0.05). With equal rates every warning
is a false alarm and the nominal level is 5%; with unequal rates the share is the power.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uplift.estimates.stats_checks import ATTRITION_ALPHA, attrition_by_arm  # noqa: E402

SIZES = (25, 50, 100, 400)
EQUAL_RATES = (0.02, 0.10, 0.20)
# Real differences: abandonment doubling from 10% to 20%, and 2% against 20%.
DIFFERENT_RATES = ((0.10, 0.20), (0.02, 0.20))
SEED = 20250712
HEADER = f"{'Fisher exact (now)':>20} {'gap or chi2 (before)':>22}"


def current_rule(n_ai: int, n_no_ai: int, abandoned_ai: int, abandoned_no_ai: int) -> bool:
    """Whether `attrition_by_arm` warns on a scope with these counts."""
    ai = np.repeat([True, False], [n_ai, n_no_ai])
    abandoned = np.concatenate(
        [np.arange(n_ai) < abandoned_ai, np.arange(n_no_ai) < abandoned_no_ai]
    )
    return attrition_by_arm(ai, abandoned)["warn"]


def previous_rule(n_ai: int, n_no_ai: int, abandoned_ai: int, abandoned_no_ai: int) -> bool:
    """The rule used before: a gap over 5 points or Pearson chi-square p < 0.05."""
    gap = abandoned_ai / n_ai - abandoned_no_ai / n_no_ai
    table = np.array(
        [[abandoned_ai, n_ai - abandoned_ai], [abandoned_no_ai, n_no_ai - abandoned_no_ai]],
        dtype=float,
    )
    p_value = 1.0
    if table[:, 0].sum() > 0 and table[:, 1].sum() > 0:
        p_value = float(sps.chi2_contingency(table, correction=False)[1])
    return abs(gap) > 0.05 or p_value < 0.05


def alarm_rate(
    n: int, rate_ai: float, rate_no_ai: float, *, datasets: int, seed: int, rule=current_rule
) -> tuple[float, float]:
    """Share of simulated scopes (n resolved tasks per arm) that warn, and its MC error."""
    rng = np.random.default_rng([seed, n, round(rate_ai * 1e4), round(rate_no_ai * 1e4)])
    counts = np.column_stack(
        [rng.binomial(n, rate_ai, datasets), rng.binomial(n, rate_no_ai, datasets)]
    )
    # Many scopes share the same counts: decide each distinct table once.
    tables, inverse = np.unique(counts, axis=0, return_inverse=True)
    warns = np.array([rule(n, n, int(a), int(b)) for a, b in tables], dtype=bool)
    share = float(warns[inverse.ravel()].mean())
    return share, math.sqrt(share * (1.0 - share) / datasets)


def main(datasets: int = 20_000) -> None:
    print(f"differential_attrition: {datasets:,} seeded scopes per cell, alpha {ATTRITION_ALPHA}")
    print("\nFalse alarms at equal abandonment (nominal 5%); share of scopes that warn +/- MC SE")
    print(f"{'tasks/arm':>9} {'abandoned':>9} {HEADER}")
    for n in SIZES:
        for rate in EQUAL_RATES:
            now = alarm_rate(n, rate, rate, datasets=datasets, seed=SEED)
            before = alarm_rate(n, rate, rate, datasets=datasets, seed=SEED, rule=previous_rule)
            print(
                f"{n:>9} {rate:>9.0%} {now[0]:>13.2%} +/- {now[1]:.2%}"
                f" {before[0]:>15.2%} +/- {before[1]:.2%}"
            )
    print("\nPower at a real difference (AI arm vs no-AI arm abandonment)")
    print(f"{'tasks/arm':>9} {'rates':>11} {HEADER}")
    for n in SIZES:
        for rate_ai, rate_no_ai in DIFFERENT_RATES:
            now = alarm_rate(n, rate_ai, rate_no_ai, datasets=datasets, seed=SEED)
            before = alarm_rate(
                n, rate_ai, rate_no_ai, datasets=datasets, seed=SEED, rule=previous_rule
            )
            print(
                f"{n:>9} {rate_ai:>4.0%} v {rate_no_ai:>3.0%} {now[0]:>13.2%} +/- {now[1]:.2%}"
                f" {before[0]:>15.2%} +/- {before[1]:.2%}"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
