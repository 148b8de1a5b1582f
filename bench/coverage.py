"""Coverage of every interval Uplift shows, on simulated labs with a known truth.

Run from the repository root:
`.venv/bin/python bench/coverage.py [datasets] [--cells 1,2] [--jobs 2]` (default 1,000
datasets per cell, about two minutes per cell and process; cells run in `--jobs` processes).
Each dataset is a seeded, simulated lab run through `estimate_all`, exactly as a refresh
computes it. Printed per cell, with the Monte-Carlo standard error sqrt(c (1 - c) / datasets)
of each share:

- headline: share of datasets whose overall 95% CI holds the true average effect; beside it,
  the interval used before (statsmodels' CR1 cluster SE on t with G - 1 df), on the same fits;
- paired: the same for the paired estimate's interval (shown from 5 researchers);
- pooled: the partially pooled task-type intervals, averaged over the five task types, and the
  worst task type (the one AI slows down, far from the others, is the hard case);
- lab: the lab view's throughput multiplier interval against the true multiplier of the
  dataset's work mix.

The truth: five task types with log time effects TYPE_EFFECTS (from 30% faster to 16% slower),
equal shares, so the average effect is their mean. Researchers differ in speed (sd 0.3 on the
log scale) and, in the "varying" cells, in their AI effect (sd 0.15). Task noise sd 0.5;
forecasts log-normal and informative. Cells are the designs a lab runs: 8, 12 and 20
researchers with equal numbers of tasks; one researcher doing half of all tasks; two teams
drawn at 80% and 20% AI allowed whose speed against forecasts differs by 0.6 on the log scale;
and 3 and 5 researchers, where the paired interval starts.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uplift.estimates.stats import estimate_all  # noqa: E402

SEED = 20251201
TYPE_EFFECTS = np.array([-0.35, -0.2, -0.1, 0.0, 0.15])
TYPE_NAMES = ["analysis", "code", "experiments", "reading", "writing"]
TASKS_PER_RESEARCHER = 30

# name: (researchers, effect sd between researchers, one dominant researcher, unequal allocation)
CELLS = {
    "8 researchers, effect varies": (8, 0.15, False, False),
    "12 researchers, effect varies": (12, 0.15, False, False),
    "20 researchers, effect varies": (20, 0.15, False, False),
    "8 researchers, one does half": (8, 0.15, True, False),
    "12 researchers, one does half": (12, 0.15, True, False),
    "20 researchers, one does half": (20, 0.15, True, False),
    "12 researchers, teams at 80/20": (12, 0.15, False, True),
    "20 researchers, teams at 80/20": (20, 0.15, False, True),
    "12 researchers, same effect": (12, 0.0, False, False),
    "5 researchers, effect varies": (5, 0.15, False, False),
    "3 researchers, effect varies": (3, 0.15, False, False),
}


def simulated_lab(
    rng: np.random.Generator, researchers: int, effect_sd: float, dominant: bool, unequal: bool
) -> pd.DataFrame:
    """One lab's completed randomized tasks, as the refresh reads them."""
    counts = np.full(researchers, TASKS_PER_RESEARCHER)
    if dominant:
        counts[0] = TASKS_PER_RESEARCHER * (researchers - 1)  # half of all tasks
    who = np.repeat(np.arange(researchers), counts)
    n = who.size
    team = (np.arange(researchers) % 2)[who]
    allocation = np.where(team == 0, 0.8, 0.2) if unequal else np.full(n, 0.5)
    team_speed = np.where(team == 0, -0.3, 0.3) if unequal else np.zeros(n)
    ai = rng.random(n) < allocation
    kind = rng.integers(0, TYPE_EFFECTS.size, n)
    log_forecast = rng.normal(4.0, 0.8, n)
    speed = rng.normal(0.0, 0.3, researchers)[who]
    effect = TYPE_EFFECTS[kind] + (rng.normal(0.0, effect_sd, researchers)[who] if effect_sd else 0)
    log_actual = 0.3 + 0.9 * log_forecast + speed + team_speed + effect * ai + rng.normal(0, 0.5, n)
    return pd.DataFrame(
        {
            "task_id": np.arange(1, n + 1),
            "researcher": who,
            "team": np.where(team == 0, "north", "south"),
            "task_type": np.array(TYPE_NAMES)[kind],
            "assignment": "randomized",
            "ai_allowed": ai,
            "allocation": allocation,
            "forecast_no_ai": np.exp(log_forecast),
            "forecast_ai": np.exp(log_forecast - 0.2),
            "status": "completed",
            "actual_minutes": np.exp(log_actual),
            "perceived_other_minutes": np.nan,
            "month": "2026-11",
            "tools": pd.Series([()] * n, dtype=object),
        }
    )


def covers(low, high, truth: float) -> bool | None:
    """Whether the ratio-scale interval (low, high) holds exp(truth) - 1; None if not shown."""
    if low is None or high is None:
        return None
    return math.log1p(low) <= truth <= math.log1p(high)


def true_multiplier(tasks: pd.DataFrame) -> float:
    """1 / sum_k s_k exp(beta_k) with the dataset's completed-minute shares, as lab_view."""
    minutes = tasks.groupby("task_type")["actual_minutes"].sum()
    shares = minutes / minutes.sum()
    ratios = np.exp(pd.Series(TYPE_EFFECTS, index=TYPE_NAMES))
    return float(1.0 / (shares * ratios[shares.index]).sum())


def run_cell(cell: tuple, datasets: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    truth = float(TYPE_EFFECTS.mean())
    hits = {"headline": [], "before": [], "paired": [], "lab": []}
    pooled = [[] for _ in TYPE_NAMES]
    for _ in range(datasets):
        tasks = simulated_lab(rng, *cell)
        result = estimate_all(tasks)
        rows = {(r["dimension"], r["group"]): r for r in result["estimates"]}
        overall = rows[("overall", None)]
        if overall["status"] != "ok":
            continue
        hits["headline"].append(covers(overall["ci_low"], overall["ci_high"], truth))
        crit = sps.t.ppf(0.975, overall["n_researchers"] - 1)
        cr1 = overall["se"]["cluster"]
        hits["before"].append(abs(overall["beta"] - truth) <= crit * cr1)
        paired = overall["paired"] or {}
        shown = covers(paired.get("ci_low"), paired.get("ci_high"), truth)
        if shown is not None:
            hits["paired"].append(shown)
        for i, name in enumerate(TYPE_NAMES):
            pool = (rows.get(("task_type", name)) or {}).get("pooled")
            if pool:
                pooled[i].append(covers(pool["ci_low"], pool["ci_high"], TYPE_EFFECTS[i]))
        lab = result["lab"]
        if lab["ci_low"] is not None:
            hits["lab"].append(lab["ci_low"] <= true_multiplier(tasks) <= lab["ci_high"])
    out = {key: np.array(values, dtype=float) for key, values in hits.items()}
    out["pooled"] = [np.array(v, dtype=float) for v in pooled]
    return out


def share(values: np.ndarray) -> str:
    """Coverage and its Monte-Carlo standard error, or a dash when never shown."""
    if values.size == 0:
        return f"{'-':>13}"
    c = float(values.mean())
    return f"{c:6.3f} ±{math.sqrt(c * (1 - c) / values.size):.3f}"


def measured_cell(number: int, name: str, datasets: int) -> str:
    """One printed line of the table: a cell's coverages and the seconds it took."""
    started = time.perf_counter()
    out = run_cell(CELLS[name], datasets, SEED + number)
    by_type = [v for v in out["pooled"] if v.size]
    mean = np.concatenate(by_type) if by_type else np.array([])
    worst = min(by_type, key=lambda v: v.mean()) if by_type else np.array([])
    return (
        f"{name:32} {share(out['headline'])} {share(out['before'])} {share(out['paired'])} "
        f"{share(mean)} {share(worst)} {share(out['lab'])} "
        f"{time.perf_counter() - started:5.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="?", type=int, default=1000)
    parser.add_argument("--cells", help="comma-separated cell numbers (1-based) to run")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    args = parser.parse_args()
    names = list(CELLS)
    numbers = [int(i) for i in args.cells.split(",")] if args.cells else range(1, len(names) + 1)
    print(f"{args.datasets} datasets per cell, seed {SEED}; coverage ± Monte-Carlo SE")
    print(
        f"{'cell':32} {'headline':>13} {'before (CR1)':>13} {'paired':>13} "
        f"{'pooled mean':>13} {'pooled worst':>13} {'lab':>13} {'s':>5}"
    )
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        lines = [
            pool.submit(measured_cell, number, names[number - 1], args.datasets)
            for number in numbers
        ]
        for line in lines:
            print(line.result(), flush=True)


if __name__ == "__main__":
    main()
