"""Benchmark of the sensitivity "mixed model": REML from per-researcher sums against MixedLM.

Run from the repository root: `.venv/bin/python bench/mixed_model.py [--statsmodels-max N]
[sizes ...]`. For each size (default 1,000, 10,000, 100,000 and 1,000,000 tasks) it generates
the primary spec with a random intercept per researcher, 2 * sqrt(n) researchers (2,000 at a
million tasks), and prints the time of one `fit_mixed_model` (best of several, wall and CPU)
beside one statsmodels `MixedLM(...).fit(reml=True)` with its default optimiser, run only up
to `--statsmodels-max` tasks (100,000 by default). The last columns compare the two fits:
the relative difference of beta and of its SE, and statsmodels' REML log-likelihood at our
estimate minus at its own (positive: statsmodels' optimiser stopped short of the maximum).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from uplift.estimates.stats_mixed import fit_mixed_model  # noqa: E402

DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000)


def generate(n_tasks: int, seed: int = 1):
    """log(actual), AI allowed, log(no-AI forecast) and researcher of n generated tasks."""
    rng = np.random.default_rng(seed)
    n_researchers = round(2 * math.sqrt(n_tasks))
    researcher = rng.integers(0, n_researchers, n_tasks)
    ai = rng.random(n_tasks) < 0.5
    log_forecast = rng.normal(4.0, 1.0, n_tasks)
    log_actual = (
        0.3
        + 0.9 * log_forecast
        - 0.15 * ai
        + rng.normal(0, 0.4, n_researchers)[researcher]
        + rng.normal(0, 0.7, n_tasks)
    )
    return log_actual, ai, log_forecast, researcher, n_researchers


def timed(repeats: int, call, *args, **kwargs) -> tuple[float, float, object]:
    """Best wall and CPU seconds of `repeats` calls of call(*args, **kwargs), the last result."""
    best_wall = best_cpu = math.inf
    result = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = call(*args, **kwargs)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=DEFAULT_SIZES)
    parser.add_argument("--statsmodels-max", type=int, default=100_000)
    args = parser.parse_args()
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

    fit_mixed_model(*generate(1_000)[:4])  # imports and first-call set-up
    header = (
        "| tasks | researchers | ours (ms) | ours CPU (ms) | MixedLM (ms) | speed-up "
        "| beta rel. diff | SE rel. diff | REML gain |"
    )
    print(header)
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        y, ai, lf, researcher, n_researchers = generate(n)
        repeats = 20 if n <= 10_000 else (5 if n <= 100_000 else 3)
        wall, cpu, ours = timed(repeats, fit_mixed_model, y, ai, lf, researcher)
        cells = [f"{n:,}", f"{n_researchers:,}", f"{wall * 1e3:.2f}", f"{cpu * 1e3:.2f}"]
        if n <= args.statsmodels_max:
            exog = np.column_stack([np.ones(n), ai, lf])

            model = MixedLM(y, exog, groups=researcher)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # boundary and convergence warnings
                sm_wall, _, result = timed(3 if n <= 10_000 else 1, model.fit, reml=True)
            # statsmodels' own REML log-likelihood at our estimate, against its optimum's.
            ratio = ours["researcher_variance"] / ours["task_variance"]
            at_ours = MixedLMParams.from_components(np.zeros(3), cov_re=np.array([[ratio]]))
            gain = model.loglike(at_ours, profile_fe=True) - result.llf
            cells += [
                f"{sm_wall * 1e3:,.0f}",
                f"{sm_wall / wall:,.0f}x",
                f"{abs(ours['beta'] / result.params[1] - 1):.1e}",
                f"{abs(ours['se'] / result.bse[1] - 1):.1e}",
                f"{gain:.1e}",
            ]
        else:
            cells += ["-", "-", "-", "-", "-"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
