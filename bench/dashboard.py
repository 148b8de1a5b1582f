"""Benchmark of the team dashboards' server time against a trivial authenticated page.

Run from the repository root:

    .venv/bin/python bench/dashboard.py [--tasks N] [--requests 200] [--refresh-only]

It uses the `uplift_bench` database (DATABASE_URL wins if set; the name must contain "bench"),
seeds N generated tasks unless the table already holds N, and runs two estimates refreshes timed
by part (the organisation's estimate_all, the slices' estimate_all calls, and the rest): one that
computes every slice afresh, and one after a task of one team changed, which reuses the other
teams' unchanged slices. Then, with Django's test Client and DEBUG off, it times interleaved
requests (the first of each page on its own: it fills the cache of rendered charts) to:

- a trivial page: login required, the base layout and one line of text;
- the team dashboard of a lead (all filters at their defaults), the same with a task type
  filter, and the organisation dashboard of an admin.

Server time is the Client's round trip through the whole middleware stack (no network).
Targets: each dashboard's p95 under 100 ms and under 3x the trivial page's p95.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.seed_tasks import bench_database_setup, seed_tasks  # noqa: E402

P95_TARGET_MS = 100.0
RATIO_TARGET = 3.0

# Production-like: DEBUG off (no query log), but plain HTTP for the test Client.
os.environ.setdefault("DEBUG", "")
os.environ.setdefault("SECRET_KEY", "bench-dashboard")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def trivial_page(request):
    """Login required, the base layout and one line: the least a page of the app does."""
    from django.http import HttpResponse
    from django.template import engines

    template = engines["django"].from_string(
        '{% extends "base.html" %}{% block content %}<p>ok</p>{% endblock %}'
    )
    return HttpResponse(template.render({}, request))


# The app's URLs plus the trivial page; set as ROOT_URLCONF below.
urlpatterns: list = []


def _install_urls() -> None:
    from django.contrib.auth.decorators import login_required
    from django.urls import path

    import uplift.urls

    urlpatterns[:] = [
        path("bench/trivial/", login_required(trivial_page)),
        *uplift.urls.urlpatterns,
    ]


def bench_users():
    """A lead of the first team and an admin, created once."""
    from uplift.accounts.models import Membership, Team, User

    team = Team.objects.order_by("name").first()
    lead, _ = User.objects.get_or_create(username="bench-lead")
    Membership.objects.get_or_create(user=lead, team=team, defaults={"role": Membership.Role.LEAD})
    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True})
    return lead, admin, team


def run_refresh(*, reuse: bool) -> dict[str, float]:
    """One refresh, timed by part; without ``reuse`` every team slice is computed afresh."""
    from uplift.estimates import compute

    calls: list[float] = []
    original, original_reuse = compute.estimate_all, compute._scope_rows_to_reuse

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            calls.append(time.perf_counter() - start)

    compute.estimate_all = timed
    if not reuse:
        compute._scope_rows_to_reuse = lambda plan: {}
    try:
        start, cpu_start = time.perf_counter(), time.process_time()
        snapshot = compute.estimates_refresh()
        total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    finally:
        compute.estimate_all, compute._scope_rows_to_reuse = original, original_reuse
    return {
        "total": total,
        "cpu": cpu,
        "org_estimate_all": calls[0],
        "scope_calls": len(calls) - 1,
        "scope_estimate_all": sum(calls[1:]),
        "rest": total - sum(calls),
        "snapshot": snapshot.pk,
        "scopes": snapshot.scopes.count(),
    }


def print_refresh(label: str, refresh: dict) -> None:
    print(
        f"{label}: {refresh['total']:.1f} s = organisation estimate_all "
        f"{refresh['org_estimate_all']:.1f} s + {refresh['scope_calls']} slice estimate_all "
        f"calls {refresh['scope_estimate_all']:.1f} s + input, hashing, reuse and store "
        f"{refresh['rest']:.1f} s ({refresh['scopes']} slices, snapshot {refresh['snapshot']}); "
        f"CPU time of this process {refresh['cpu']:.1f} s",
        flush=True,
    )


def refresh_after_one_change() -> dict:
    """A refresh after one task of one team changed, as after a completion; then undone."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, actual_minutes FROM worklog_task WHERE status = 'completed' "
            "AND team_id = (SELECT min(id) FROM accounts_team) ORDER BY id LIMIT 1"
        )
        task_id, minutes = cursor.fetchone()
        cursor.execute(
            "UPDATE worklog_task SET actual_minutes = %s WHERE id = %s", [minutes * 1.01, task_id]
        )
    try:
        return run_refresh(reuse=True)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE worklog_task SET actual_minutes = %s WHERE id = %s", [minutes, task_id]
            )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(pages: dict[str, tuple], requests: int, warmup: int = 20) -> dict[str, list[float]]:
    """Interleaved timings (ms) of each page, so that every page sees the same conditions."""
    timings: dict[str, list[float]] = {name: [] for name in pages}
    for i in range(warmup + requests):
        for name, (client, url) in pages.items():
            start = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{name}: {url} answered {response.status_code}")
            if i >= warmup:
                timings[name].append(elapsed)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000, help="tasks to seed")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument(
        "--refresh-only", action="store_true", help="time the two refreshes, not the pages"
    )
    args = parser.parse_args(argv)

    bench_database_setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings, setup_test_environment

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM worklog_task")
        n_tasks = cursor.fetchone()[0]
    if n_tasks != args.tasks:
        seed_tasks(args.tasks)
    print(f"database {connection.settings_dict['NAME']}: {args.tasks:,} tasks", flush=True)

    print_refresh("refresh, every slice computed", run_refresh(reuse=False))
    print_refresh("refresh after one team changed", refresh_after_one_change())
    if args.refresh_only:
        return 0

    _install_urls()
    setup_test_environment()
    lead, admin, team = bench_users()
    lead_client, admin_client = Client(), Client()
    lead_client.force_login(lead)
    admin_client.force_login(admin)
    first_type = (
        team.tasks.values_list("task_type__name", flat=True).order_by("task_type__name").first()
    )
    pages = {
        "trivial": (lead_client, "/bench/trivial/"),
        "team": (lead_client, "/dashboards/"),
        "team+type": (lead_client, f"/dashboards/?type={first_type}"),
        "org": (admin_client, "/dashboards/org/"),
    }
    static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    with override_settings(
        ROOT_URLCONF=__name__, STORAGES={**settings.STORAGES, "staticfiles": static}
    ):
        # The first request of a slice builds and caches its charts: timed on its own.
        cold = measure(pages, 1, warmup=0)
        timings = measure(pages, args.requests)

    trivial_p95 = percentile(timings["trivial"], 0.95)
    failed = False
    print(f"{args.requests} requests per page, DEBUG={settings.DEBUG}:")
    for name, values in timings.items():
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        line = f"  {name:10s} first {cold[name][0]:6.1f} ms  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms"
        if name != "trivial":
            ratio = p95 / trivial_p95
            ok = p95 < P95_TARGET_MS and ratio < RATIO_TARGET
            failed |= not ok
            line += f"  {ratio:.2f}x trivial p95  {'ok' if ok else 'OVER TARGET'}"
        print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
