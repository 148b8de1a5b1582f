"""Memory and start time of a web process: what one gunicorn worker costs to run.

Run from the repository root:

    .venv/bin/python -m bench.web_memory [--requests 20] [--imports 7]
        [--database-url postgres://postgres@127.0.0.1:5432/uplift_bench_web]
        [--redis-url redis://127.0.0.1:6379/13]

It migrates the database (whose name must contain "bench", unless it does not exist yet and is
created here), loads the demo organisation (``seed_demo --force``) and computes one snapshot,
collects static files, then measures with production settings (DEBUG off):

- the start time: importing the WSGI application (``import uplift.wsgi``, which sets Django
  up) in a fresh interpreter, best and median of ``--imports`` runs; and the time from
  starting gunicorn to its first ``/healthz`` answer;
- the resident memory of one gunicorn sync worker after it answered ``/healthz``, and after
  ``--requests`` rounds of the team dashboard, a chart's CSV download, Today, the API's
  estimates and its CSV export of every task (a lead, a researcher and an analyst signed in
  through the login form): VmRSS, and VmHWM for the peak;
- whether the scientific stack (numpy, pandas, scipy, statsmodels) is mapped into the worker.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load import Browser  # noqa: E402
from bench.servers import (  # noqa: E402
    Gunicorn,
    app_env,
    bench_database_create,
    manage,
    static_collect,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/uplift_bench_web"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
DEMO_PASSWORD = "uplift-demo"
SCIENTIFIC = ("numpy", "pandas", "scipy", "statsmodels")
IMPORT_CODE = (
    "import time; started = time.perf_counter(); import uplift.wsgi; "
    "print(time.perf_counter() - started)"
)


def memory_mb(pid: int, field: str) -> float:
    """A /proc/<pid>/status figure (VmRSS, VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not found")


def mapped_packages(pid: int) -> list[str]:
    """Which of the scientific packages have files mapped into the process."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name in SCIENTIFIC if f"/site-packages/{name}/" in maps]


def import_seconds(env: dict[str, str], runs: int) -> list[float]:
    """Seconds to import the WSGI application in a fresh interpreter, once per run."""
    times = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-c", IMPORT_CODE],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(result.stdout.strip().splitlines()[-1]))
    return times


def signed_in(base_url: str, username: str) -> Browser:
    browser = Browser(base_url, samples=[])
    browser.get("login_page", "/accounts/login/")
    form = {"username": username, "password": DEMO_PASSWORD, "next": "/"}
    if not browser.post("login", "/accounts/login/", form, redirect_to="/"):
        raise SystemExit(f"{username} could not sign in: {browser.samples[-1]}")
    return browser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--requests", type=int, default=20, help="rounds of the five pages")
    parser.add_argument("--imports", type=int, default=7, help="fresh imports timed")
    args = parser.parse_args(argv)

    bench_database_create(args.database_url)
    env = app_env(database_url=args.database_url, broker_url=args.redis_url)
    manage("migrate", "--no-input", "-v", "0", env=env, timeout=600)
    manage("seed_demo", "--force", env=env, timeout=600)
    manage("compute_estimates", env=env, timeout=600)
    static_collect(env)

    imports = import_seconds(env, args.imports)
    with tempfile.TemporaryDirectory(prefix="bench-web-") as log_dir:
        started = time.monotonic()
        web = Gunicorn(env=env, workers=1, log_dir=Path(log_dir))
        with web:
            ready = time.monotonic() - started
            worker = web.worker_pids()[0]
            rss_started = memory_mb(worker, "VmRSS")
            lead, researcher = signed_in(web.url, "lin"), signed_in(web.url, "ada")
            analyst = signed_in(web.url, "ana")
            pages = [
                (lead, "/dashboards/"),
                (lead, "/dashboards/csv/by-task-type/"),
                (researcher, "/"),
                (analyst, "/api/v1/estimates/"),
                (analyst, "/api/v1/tasks/export/?format=csv"),
            ]
            for _ in range(args.requests):
                for browser, path in pages:
                    if browser.get("page", path) is None:
                        raise SystemExit(f"{path}: {browser.samples[-1]}")
            rss_served = memory_mb(worker, "VmRSS")
            peak = memory_mb(worker, "VmHWM")
            loaded = mapped_packages(worker)
            if web.worker_pids() != [worker]:
                raise SystemExit("the gunicorn worker was replaced during the run")

    print(
        f"import uplift.wsgi, fresh interpreter: best {min(imports):.2f} s, "
        f"median {statistics.median(imports):.2f} s ({len(imports)} runs)\n"
        f"gunicorn start to first /healthz answer: {ready:.2f} s\n"
        f"worker memory: {rss_started:.0f} MB after start, {rss_served:.0f} MB after "
        f"{args.requests} rounds of the five pages; peak {peak:.0f} MB\n"
        f"scientific packages in the worker: {', '.join(loaded) or 'none'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
