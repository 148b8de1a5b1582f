"""CPU of a researcher's logging requests, in process, with a profile of where it goes.

Run from the repository root:

    .venv/bin/python bench/logging_profile.py [--cycles 100] [--profile] [--top 30]

Production settings (DEBUG off, hashed static files collected into var/bench-static) on its
own database, ``uplift_bench_load_profile`` (created and migrated if missing; DATABASE_URL
wins if set, and must name a database containing "bench"). One researcher, signed in with
``force_login``, goes through what bench/load.py's researchers do, through Django's test
Client: Today, plan (post), start the timer (post), the task page, stop (post), tools (post),
complete (post), History every third task; plus "How it works", the floor: a page that signs
in, runs every middleware and renders base.html and nothing else.

It prints the median and mean CPU time (``time.process_time``) per kind of request, the
queries of each kind, and with ``--profile`` the cProfile of all of them (CPU time, not wall:
the machine may be shared), sorted by own time and by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.seed_tasks import bench_database_setup, production_like_environment  # noqa: E402

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/uplift_bench_load_profile"


def seed():
    from django.db import connection

    from uplift.accounts.models import Membership, Team, User
    from uplift.worklog.models import TaskType, Tool

    if "bench" not in connection.settings_dict["NAME"]:
        raise SystemExit("Refusing a database whose name does not contain 'bench'.")
    team, _ = Team.objects.get_or_create(name="Bench load")
    for name in ("Bench experiment code", "Bench data analysis", "Bench writing"):
        TaskType.objects.get_or_create(name=name)
    for name in ("Bench assistant", "Bench autocomplete", "Bench agent"):
        Tool.objects.get_or_create(name=name)
    user, _ = User.objects.get_or_create(
        username="bench-profile", defaults={"email": "bench-profile@bench.invalid"}
    )
    Membership.objects.get_or_create(user=user, team=team)
    return user


class Recorder:
    """Sends requests through the test Client, recording CPU time and queries by kind."""

    def __init__(self, client, profiler: cProfile.Profile | None):
        from django.db import connection

        self.client = client
        self.connection = connection
        self.profiler = profiler
        self.cpu: dict[str, list[float]] = defaultdict(list)
        self.queries: dict[str, list[int]] = defaultdict(list)
        self.recording = True

    def send(self, kind: str, method: str, path: str, data=None, status=200):
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(self.connection) as queries:
            if self.profiler is not None and self.recording:
                self.profiler.enable()
            started = time.process_time()
            send = self.client.get if method == "GET" else self.client.post
            response = send(path, data)
            spent = time.process_time() - started
            if self.profiler is not None and self.recording:
                self.profiler.disable()
        if response.status_code != status:
            raise RuntimeError(f"{method} {path}: {response.status_code}, expected {status}")
        if self.recording:
            self.cpu[kind].append(spent * 1000)
            self.queries[kind].append(len(queries))
        return response


def cycle(rec: Recorder, n: int, tool_ids: list[int], type_id: int) -> None:
    rec.send("today", "GET", "/")
    title = f"profile task {n} {time.time_ns()}"
    form = {
        "title": title,
        "task_type": str(type_id),
        "team": "",
        "forecast_no_ai_minutes": "60",
        "forecast_ai_minutes": "45",
        "uses_ai": "",
    }
    rec.send("plan", "POST", "/", form, status=302)
    page = rec.send("today", "GET", "/").content.decode()
    task_id = int(re.search(rf'href="/tasks/(\d+)/">{re.escape(title)}</a>', page)[1])
    base = f"/tasks/{task_id}/"
    rec.send("timer_start", "POST", f"{base}timer/", {"action": "start", "next": "/"}, 302)
    rec.send("today", "GET", "/")
    rec.send("task", "GET", base)
    rec.send("timer_stop", "POST", f"{base}timer/", {"action": "stop"}, 302)
    rec.send("task", "GET", base)
    tools = {}
    for tool_id in tool_ids:
        tools[f"minutes_{tool_id}"] = ""
        tools[f"mode_{tool_id}"] = "other"
    tools[f"tool_{tool_ids[0]}"] = "on"
    tools[f"minutes_{tool_ids[0]}"] = "12"
    rec.send("tools", "POST", f"{base}tools/", tools, 302)
    rec.send("task", "GET", base)
    rec.send("complete", "POST", f"{base}complete/", {"perceived_other_minutes": "50"}, 302)
    rec.send("today", "GET", "/")
    rec.send("floor", "GET", "/how-it-works/")
    if n % 3 == 1:
        rec.send("history", "GET", "/history/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--dump", help="also write the profile to this file (pstats)")
    args = parser.parse_args()

    production_like_environment(DATABASE_URL)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    bench_database_setup()
    from django.core.management import call_command
    from django.test import Client

    from uplift.worklog.models import TaskType, Tool

    call_command("collectstatic", interactive=False, verbosity=0)
    user = seed()
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    tool_ids = sorted(Tool.objects.values_list("pk", flat=True))
    type_id = TaskType.objects.get(name="Bench writing").pk
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    rec = Recorder(client, profiler)
    rec.recording = False
    for n in range(5):  # warm: templates, the connection, PostgreSQL's buffers
        cycle(rec, n, tool_ids, type_id)
    rec.recording = True
    for n in range(args.cycles):
        cycle(rec, n, tool_ids, type_id)

    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end; {args.cycles} cycles")
    print(f"{'kind':<12} {'count':>6} {'median ms':>10} {'mean ms':>8} {'queries':>8}")
    for kind, values in sorted(rec.cpu.items()):
        queries = statistics.median(rec.queries[kind])
        print(f"{kind:<12} {len(values):>6} {statistics.median(values):>10.2f} "
              f"{statistics.fmean(values):>8.2f} {queries:>8.0f}")  # fmt: skip
    if profiler is not None:
        if args.dump:
            profiler.dump_stats(args.dump)
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
            text = out.getvalue().replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "")
            print(text)


if __name__ == "__main__":
    main()
