"""Datasets whose `estimate_all` output is pinned in fixtures/estimate_all_golden.json.

The fixture was written by the code before the per-call overhead was cut
(`python -m tests.estimates.golden_datasets` rewrites it: only do so for a deliberate change of
the method, with a new METHOD_VERSION). Small scopes like a team's date range, with outliers,
several strata, self-selected tasks, categoricals and a scope too small for an estimate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.estimates_stats import generate_tasks  # noqa: E402

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "estimate_all_golden.json"
CATEGORICAL = ("researcher", "team", "task_type", "status", "assignment", "month")


def _categorical(tasks: pd.DataFrame) -> pd.DataFrame:
    tasks = tasks.copy()
    for column in CATEGORICAL:
        tasks[column] = tasks[column].astype("category")
    return tasks


def datasets() -> dict[str, pd.DataFrame]:
    small = {"n_researchers": 10, "n_teams": 2, "n_task_types": 3, "n_months": 6}
    team_slice = generate_tasks(500, **small, seed=3)
    outliers = generate_tasks(800, **small, seed=4)
    hit = np.random.default_rng(4).random(len(outliers)) < 0.01
    outliers.loc[hit, "actual_minutes"] = outliers.loc[hit, "actual_minutes"] * 1000
    strata = generate_tasks(1500, n_researchers=30, n_teams=3, n_task_types=4, seed=5)
    strata["allocation"] = np.where(np.arange(len(strata)) % 3 == 0, 0.7, 0.5)
    tiny = generate_tasks(40, n_researchers=4, n_teams=1, n_task_types=2, n_months=2, seed=6)
    larger = generate_tasks(5000, n_researchers=120, n_teams=5, n_task_types=6, seed=7)
    return {
        "team_slice_500": team_slice,
        "team_slice_500_categorical": _categorical(team_slice),
        "outliers_800": outliers,
        "strata_1500": strata,
        "tiny_40": tiny,
        "larger_5000_categorical": _categorical(larger),
    }


def main() -> None:
    from uplift.estimates.stats import estimate_all

    golden = {name: estimate_all(tasks) for name, tasks in datasets().items()}
    FIXTURE.write_text(json.dumps(golden, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
