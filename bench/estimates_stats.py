"""Benchmark of the estimates refresh: `estimate_all` on a million generated tasks.

Run from the repository root: `.venv/bin/python bench/estimates_stats.py [n_tasks]
[--categorical] [--teams]`. Prints the time of the whole refresh beside one statsmodels OLS fit
of the overall model. `--categorical` passes the label columns as `pandas.Categorical`, as the
Django loader does; without it they are strings. `--teams` also times `estimate_all` on each
team's tasks in turn, as a refresh that recomputes every team's slice does. Each time is
followed by the CPU time spent in the mixed-model sensitivity fit (`fit_mixed_model`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uplift.estimates import stats  # noqa: E402
from uplift.estimates.stats import estimate_all  # noqa: E402

TOOLS = ("chatgpt", "claude", "copilot", "cursor", "gemini")


def generate_tasks(
    n_tasks: int = 1_000_000,
    *,
    n_researchers: int = 2_000,
    n_teams: int = 50,
    n_task_types: int = 12,
    n_months: int = 12,
    seed: int = 1,
) -> pd.DataFrame:
    """A tidy tasks table shaped like the product's, with a known effect per task type."""
    rng = np.random.default_rng(seed)
    researcher = rng.integers(0, n_researchers, n_tasks)
    team = np.array([f"team-{i:02d}" for i in range(n_teams)])[researcher % n_teams]
    type_code = rng.integers(0, n_task_types, n_tasks)
    task_type = np.array([f"type-{i:02d}" for i in range(n_task_types)])[type_code]
    randomized = rng.random(n_tasks) < 0.9
    ai = np.where(randomized, rng.random(n_tasks) < 0.5, rng.random(n_tasks) < 0.6)
    status = np.array(["completed", "abandoned", "in_progress", "planned"])[
        rng.choice(4, n_tasks, p=[0.85, 0.05, 0.05, 0.05])
    ]
    completed = status == "completed"
    log_forecast = rng.normal(4.0, 1.0, n_tasks)
    type_effect = rng.normal(-0.1, 0.15, n_task_types)
    log_actual = (
        0.3
        + 0.9 * log_forecast
        + type_effect[type_code] * ai
        + rng.normal(0, 0.4, n_researchers)[researcher]
        + rng.normal(0, 0.7, n_tasks)
    )
    actual = np.where(completed, np.exp(log_actual), np.nan)
    perceived = np.where(completed & (rng.random(n_tasks) < 0.5), actual * 1.3, np.nan)
    months = np.array([f"2025-{m:02d}" for m in range(1, n_months + 1)], dtype=object)
    month = np.where(completed, months[rng.integers(0, n_months, n_tasks)], None)
    combos = [()] + [
        tuple(t for t, b in zip(TOOLS, bits, strict=True) if b)
        for bits in (rng.random((15, len(TOOLS))) < 0.35)
    ]
    combo_array = np.empty(len(combos), dtype=object)
    for i, combo in enumerate(combos):
        combo_array[i] = combo
    uses = np.where(ai, rng.random(n_tasks) < 0.9, rng.random(n_tasks) < 0.03)
    tools = combo_array[np.where(uses, rng.integers(1, len(combos), n_tasks), 0)]
    return pd.DataFrame(
        {
            "task_id": rng.permutation(n_tasks) + 1,
            "researcher": researcher,
            "team": team,
            "task_type": task_type,
            "assignment": np.where(randomized, "randomized", "self_selected"),
            "ai_allowed": ai,
            "allocation": 0.5,
            "forecast_no_ai": np.exp(log_forecast),
            "forecast_ai": np.exp(log_forecast + rng.normal(-0.25, 0.2, n_tasks)),
            "status": status,
            "actual_minutes": actual,
            "perceived_other_minutes": perceived,
            "month": month,
            "tools": tools,
        }
    )


class _MixedModelClock:
    """CPU seconds spent in `stats.fit_mixed_model` and the number of fits, while installed."""

    def __init__(self):
        self.fit = stats.fit_mixed_model
        self.seconds, self.fits = 0.0, 0
        stats.fit_mixed_model = self

    def __call__(self, *args, **kwargs):
        start = time.process_time()
        try:
            return self.fit(*args, **kwargs)
        finally:
            self.seconds += time.process_time() - start
            self.fits += 1

    def report(self) -> str:
        text = f"of which the mixed model {self.seconds:.2f} s CPU in {self.fits} fits"
        self.seconds, self.fits = 0.0, 0
        return text


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n_tasks = int(args[0]) if args else 1_000_000
    start = time.perf_counter()
    tasks = generate_tasks(n_tasks)
    if "--categorical" in sys.argv:
        for column in ("researcher", "team", "task_type", "status", "assignment", "month"):
            tasks[column] = tasks[column].astype("category")
    print(f"generated {n_tasks:,} tasks in {time.perf_counter() - start:.2f} s")

    clock = _MixedModelClock()
    start, cpu = time.perf_counter(), time.process_time()
    result = estimate_all(tasks)
    refresh, refresh_cpu = time.perf_counter() - start, time.process_time() - cpu
    ok = sum(e["status"] == "ok" for e in result["estimates"])

    import statsmodels.api as sm

    done = tasks[(tasks["assignment"] == "randomized") & (tasks["status"] == "completed")]
    exog = np.column_stack(
        [np.ones(len(done)), done["ai_allowed"].to_numpy(float), np.log(done["forecast_no_ai"])]
    )
    start = time.perf_counter()
    sm.OLS(np.log(done["actual_minutes"].to_numpy()), exog).fit(
        cov_type="cluster", cov_kwds={"groups": done["researcher"].to_numpy()}
    )
    one_fit = time.perf_counter() - start
    print(
        f"estimate_all: {refresh:.2f} s ({refresh_cpu:.2f} s CPU) "
        f"for {len(result['estimates'])} scopes ({ok} ok), {clock.report()}"
    )
    print(f"one statsmodels OLS fit (overall, clustered): {one_fit:.2f} s")
    if "--teams" in sys.argv:
        start, cpu = time.perf_counter(), time.process_time()
        teams = 0
        for _, team_tasks in tasks.groupby("team", sort=True, observed=True):
            estimate_all(team_tasks)
            teams += 1
        print(
            f"estimate_all on each of {teams} teams: {time.perf_counter() - start:.2f} s "
            f"({time.process_time() - cpu:.2f} s CPU), {clock.report()}"
        )


if __name__ == "__main__":
    main()
