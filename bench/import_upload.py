"""Benchmark the worklog import over HTTP: a large file of bad rows, then a large good file.

    .venv/bin/python -m bench.import_upload                 # 50 MB of bad rows, 100,000 good rows
    .venv/bin/python -m bench.import_upload --bad-mb 20 --good-rows 20000

The app runs in gunicorn (one sync worker, production settings) on the PostgreSQL database
`uplift_bench_import` (its name must contain "bench"; emptied of tasks first). The script posts,
as an admin with a token:

- a file of ``--bad-mb`` megabytes whose every row has a bad condition: the answer's size, the
  problems it lists and counts, the time, and the worker's resident memory before and after
  (VmRSS) and at its peak (VmHWM);
- a valid file of ``--good-rows`` rows (new tasks): time, rows per second and memory.

Targets: the refused file's answer under 50 KB, and the worker's peak under 300 MB for both.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/uplift_bench_import"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.export import _admin_token, _memory_mb  # noqa: E402
from bench.servers import Gunicorn, app_env  # noqa: E402

HEADER = (
    "task_id,researcher,team,task_type,title,assignment,condition,forecast_no_ai_minutes,"
    "forecast_ai_minutes,status,actual_minutes,started_at,completed_at,"
    "perceived_other_minutes,tools\n"
)


def _row(i: int, condition: str) -> str:
    return (
        f"B{i},r{i % 50}@bench.example,Team {i % 4},Type {i % 7},Task number {i} of the bench,"
        f"randomized,{condition},60,45,completed,{30 + i % 90},2025-03-03T09:00:00+00:00,"
        f"2025-03-03T10:30:00+00:00,,Tool {i % 5}\n"
    )


def _write(path: Path, *, rows: int | None = None, megabytes: float | None = None, bad: bool):
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        i = 0
        while (rows is not None and i < rows) or (
            megabytes is not None and out.tell() < megabytes * 1e6
        ):
            out.write(_row(i, "maybe" if bad else ("ai", "no_ai")[i % 2]))
            i += 1
    return i


def _post(session, url: str, path: Path):
    started = time.perf_counter()
    with path.open("rb") as upload:
        response = session.post(url, files={"file": ("tasks.csv", upload)}, timeout=1800)
    return time.perf_counter() - started, response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bad-mb", type=float, default=50)
    parser.add_argument("--good-rows", type=int, default=100_000)
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    from bench.seed_tasks import bench_database_setup

    bench_database_setup()
    from uplift.worklog.models import AuditEntry, Task, ToolUse

    ToolUse.objects.all().delete()
    if AuditEntry.objects.exists():
        raise SystemExit("The bench database has audit entries (append-only): drop it first.")
    Task.objects.all().delete()
    token = _admin_token()
    import requests

    env = app_env(
        database_url=os.environ["DATABASE_URL"],
        broker_url=os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/"),
        SECURE_SSL_REDIRECT="0",
        API_WRITE_RATE="1000/minute",
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-import-") as folder,
        Gunicorn(env=env, workers=1, log_dir=Path(folder), timeout=1800) as server,
    ):
        bad, good = Path(folder) / "bad.csv", Path(folder) / "good.csv"
        bad_rows = _write(bad, megabytes=args.bad_mb, bad=True)
        _write(good, rows=args.good_rows, bad=False)
        bad_mb, good_mb = bad.stat().st_size / 1e6, good.stat().st_size / 1e6
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        url = f"{server.url}/api/v1/import/"
        session.get(f"{server.url}/api/v1/teams/", timeout=60).raise_for_status()
        worker = server.worker_pids()[0]
        rss_idle = _memory_mb(worker, "VmRSS")

        bad_s, answer = _post(session, url, bad)
        assert answer.status_code == 400, answer.text[:500]
        body = answer.json()
        answer_kb = len(answer.content) / 1e3
        rss_after_bad, peak_bad = _memory_mb(worker, "VmRSS"), _memory_mb(worker, "VmHWM")

        good_s, answer = _post(session, url, good)
        assert answer.status_code == 200, answer.text[:500]
        assert answer.json()["created"] == args.good_rows, answer.text
        peak_good = _memory_mb(worker, "VmHWM")

    print(
        f"refused file   {bad_mb:.1f} MB, {bad_rows:,} bad rows: "
        f"{bad_s:.1f} s, answer {answer_kb:.1f} KB "
        f"listing {len(body['problems'])} of {body['problem_count']:,} problems\n"
        f"               worker memory idle {rss_idle:.0f} MB, after {rss_after_bad:.0f} MB, "
        f"peak {peak_bad:.0f} MB (target < 300 MB)\n"
        f"imported file  {good_mb:.1f} MB, {args.good_rows:,} rows: "
        f"{good_s:.1f} s = {args.good_rows / good_s:,.0f} rows/s; worker peak {peak_good:.0f} MB"
    )
    assert answer_kb < 50


if __name__ == "__main__":
    main()
