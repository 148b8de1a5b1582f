"""Benchmark the worklog import of a large file: rows per second and the importer's peak memory.

    .venv/bin/python -m bench.import_rows                       # 1,000,000 rows on PostgreSQL,
                                                                # 200,000 on SQLite
    .venv/bin/python -m bench.import_rows --rows 100000 --sqlite-rows 50000
    .venv/bin/python -m bench.import_rows --only postgres

The script writes a valid worklog CSV of ``--rows`` rows to a temporary file, a row at a time
(200 researchers, 8 teams, 12 task types, 6 tools; randomized and self-selected tasks, every
status). For each database it then runs, in a fresh process of its own, the import the API and
``manage.py import_worklog`` run (``import_worklog_file``) twice: the file into an empty
database (every row a new task), then the same file again (every row an unchanged task). It
prints the rows, the time and rows per second of each import, the importing process's peak
resident memory (VmHWM, over both imports, the process's start included) and the machine's
load (``os.getloadavg``) before and after.

PostgreSQL: the database `uplift_bench_import` (DATABASE_URL's server; dropped and created
again, its name must contain "bench"). SQLite: a new file in a temporary folder, as local mode
(``make run``) has it. Targets: 50,000 rows/s on PostgreSQL for 1,000,000 rows, and a peak
under 500 MB whatever the file's size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/uplift_bench_import"

HEADER = (
    "task_id,researcher,team,task_type,title,assignment,condition,allocation_ai,"
    "forecast_no_ai_minutes,forecast_ai_minutes,status,actual_minutes,started_at,completed_at,"
    "perceived_other_minutes,tools\n"
)
TOOLS = ("Claude", "Copilot", "Cursor", "ChatGPT", "Gemini", "Aider")


def row(i: int) -> str:
    """Row ``i`` of the benchmark's file: valid, and the same every run."""
    randomized = i % 5 != 0
    status = ("completed", "completed", "completed", "in_progress", "planned", "abandoned")[i % 6]
    condition = ("ai", "no_ai")[(i * 7) % 2 if randomized else i % 3 == 0]
    day = 1 + i % 28
    month = 1 + (i // 28) % 12
    started = completed = actual = perceived = ""
    if status != "planned":
        started = f"2025-{month:02d}-{day:02d}T09:{i % 60:02d}:00+00:00"
        actual = str(15 + i % 240)
    if status == "completed":
        completed = f"2025-{month:02d}-{day:02d}T17:{i % 60:02d}:00+00:00"
        perceived = str(20 + i % 200) if i % 4 else ""
    tools = ";".join(TOOLS[j % len(TOOLS)] for j in range(i % 3)) if condition == "ai" else ""
    return (
        f"W{i:07d},researcher{i % 200}@lab.example,Team {i % 8},Type {i % 12},"
        f"Task {i}: refactor module {i % 997},{'randomized' if randomized else 'self_selected'},"
        f"{condition},{'0.5' if randomized and i % 2 else ''},{30 + i % 300},{20 + i % 200},"
        f"{status},{actual},{started},{completed},{perceived},{tools}\n"
    )


def write_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(rows):
            out.write(row(i))


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found")


def child(path: Path) -> None:
    """In the benchmark's own process: import the file twice, print the figures as JSON."""
    import logging

    import django

    django.setup()
    # Each step's time (uplift.worklog.services.importing), on stderr.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("    %(message)s"))
    steps = logging.getLogger("uplift.worklog.services.importing")
    steps.addHandler(handler)
    steps.setLevel(logging.DEBUG)
    from django.db import connection

    from uplift.worklog.services import import_worklog_file
    from uplift.worklog.worklog_csv import decoded_lines

    figures = {"database": connection.vendor, "start_mb": _peak_mb()}
    for run in ("new", "unchanged"):
        started = time.perf_counter()
        with path.open("rb") as stream:
            result = import_worklog_file(decoded_lines(stream))
        figures[run] = {
            "seconds": time.perf_counter() - started,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
        }
        print(f"  ({run}: {json.dumps(figures[run])})", file=sys.stderr, flush=True)
    figures["peak_mb"] = _peak_mb()
    print(json.dumps(figures))


def _run(env: dict, *args: str, check: bool = True, quiet: bool = True) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if quiet else None,
        text=True,
    )
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{(done.stderr or '')[-3000:]}")
    return done.stdout


def _postgres_env(database_url: str) -> dict:
    import psycopg
    from psycopg import sql

    name = urlsplit(database_url).path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"Refusing to drop {name!r}: its name does not contain 'bench'.")
    server = urlsplit(database_url)._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return {"DATABASE_URL": database_url}


def measure(database: str, path: Path, rows: int, database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "UPLIFT_VAR_DIR")}
    env.update(SECRET_KEY="bench", DEBUG="", DJANGO_SETTINGS_MODULE="uplift.settings")
    env.setdefault("CELERY_BROKER_URL", "memory://")
    with tempfile.TemporaryDirectory(prefix="bench-import-db-") as var_dir:
        if database == "postgres":
            env.update(_postgres_env(database_url))
        else:
            env["UPLIFT_VAR_DIR"] = var_dir
        _run(env, "manage.py", "migrate", "--no-input", "-v", "0")
        load_before = os.getloadavg()
        out = _run(env, "-m", "bench.import_rows", "--child", str(path), quiet=False)
        load_after = os.getloadavg()
    figures = json.loads(out.strip().splitlines()[-1])
    figures.update(rows=rows, load_before=load_before, load_after=load_after)
    return figures


def report(figures: dict) -> None:
    rows = figures["rows"]
    print(f"\n{figures['database']}: {rows:,} rows")
    for run in ("new", "unchanged"):
        one = figures[run]
        print(
            f"  {run:9} {one['seconds']:7.1f} s  {rows / one['seconds']:9,.0f} rows/s  "
            f"(created {one['created']:,}, updated {one['updated']:,}, "
            f"unchanged {one['unchanged']:,})"
        )
    print(f"  peak resident memory of the importing process (VmHWM): {figures['peak_mb']:.0f} MB")
    before = ", ".join(f"{x:.2f}" for x in figures["load_before"])
    after = ", ".join(f"{x:.2f}" for x in figures["load_after"])
    print(f"  load average (1, 5, 15 min): before {before}; after {after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for PostgreSQL")
    parser.add_argument("--sqlite-rows", type=int, default=200_000)
    parser.add_argument("--only", choices=["postgres", "sqlite"])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    print(f"{os.cpu_count()} CPUs; load average now {os.getloadavg()}")
    runs = [("postgres", args.rows), ("sqlite", args.sqlite_rows)]
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        for database, rows in runs:
            if args.only and database != args.only:
                continue
            path = Path(folder) / f"worklog-{rows}.csv"
            if not path.exists():
                started = time.perf_counter()
                write_file(path, rows)
                print(
                    f"wrote {path.name}: {path.stat().st_size / 1e6:.1f} MB in "
                    f"{time.perf_counter() - started:.1f} s"
                )
            report(measure(database, path, rows, database_url))


if __name__ == "__main__":
    main()
