"""Load benchmark: simulated researchers against gunicorn, PostgreSQL and a Celery worker.

Run from the repository root:

    .venv/bin/python -m bench.load [--mode stress|realistic] [--users 32] [--seconds 60]
        [--think 30] [--workers 3]
        [--database-url postgres://postgres@127.0.0.1:5432/uplift_bench_load]
        [--redis-url redis://127.0.0.1:6379/13]

The stress mode (the default) has researchers who never pause and sign in through the login
form; the realistic mode (1,000 researchers, 180 s unless told) has each act about once every
``--think`` seconds, signed in by a session written straight into the session store.
gunicorn logs each request's CPU time by kind (bench/gunicorn_cpu.py), printed per kind beside
the floor, ``GET /how-it-works/``.

It migrates the database (whose name must contain "bench", unless it does not exist yet and is
created here), creates the researchers, collects static files, and starts gunicorn and a Celery
worker with production settings (DEBUG off). Every simulated researcher is a browser of its
own: it signs in through the login form, then loops through what researchers do, with the
form posts a browser makes: open Today, plan a task with its two forecasts (the server draws
its condition), start and stop the timer or type the minutes, tick AI tools, complete (or
abandon) it, look at History. Requests carry ``X-Forwarded-Proto: https`` as the
TLS-terminating proxy in front of production adds, so the app runs with its production
security settings unchanged.

It records each request's latency and status and each write the server acknowledged (a
redirect to the expected page), prints requests per second, p50/p95/p99 latency overall and
per kind of request, the errors, and then checks in the database that every acknowledged
write is there with its content. The exit status is 1 on any error or any lost or different
write. The same code runs bounded in tests/deploy/test_load.py.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import http.client
import json
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.servers import (  # noqa: E402
    CeleryWorker,
    Gunicorn,
    app_env,
    bench_database_create,
    python,
    static_collect,
)
from uplift.worklog.bounds import MIN_MINUTES  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/uplift_bench_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
PASSWORD = "bench-load-researcher-password"
USERNAME_PREFIX = "bench-researcher-"
TEAM = "Bench load"
TASK_TYPES = ("Bench experiment code", "Bench data analysis", "Bench writing")
TOOLS = ("Bench assistant", "Bench autocomplete", "Bench agent")
# After a failed request a researcher waits this long before going on, as a person would.
PAUSE_AFTER_ERROR = 0.25
REQUEST_TIMEOUT = 30.0
CONDITIONS = {"AI allowed": "ai", "No AI": "no_ai"}


class _Any:
    """An expected value that any value in the database matches."""

    def __repr__(self) -> str:
        return "any"


ANY = _Any()


# --- What was sent and what the server said ---------------------------------------------------


@dataclass
class Sample:
    """One request: its kind, when it started (monotonic), how long it took, what came back.

    A page that answered but did not show an acknowledged write is a failed ``CHECK`` sample.
    """

    kind: str
    method: str  # GET, POST, or CHECK
    path: str
    started: float
    seconds: float
    status: int  # 0 when no response came back
    ok: bool
    problem: str = ""
    body: str = ""  # kept only for failed requests
    retry_after: str | None = None


@dataclass
class TaskRecord:
    """One task as the server acknowledged it, and the one write it may not have applied.

    ``expected`` holds the fields of the task in the database after every acknowledged write.
    A write that got no acknowledgement (an error, a timeout) may or may not have happened: its
    fields go to ``unconfirmed`` and the researcher leaves the task alone from then on.
    """

    owner: str
    title: str
    planned_at: float  # monotonic, when the plan was sent
    task_id: int | None = None
    planned: bool = False  # the plan itself was acknowledged
    expected: dict[str, object] = field(default_factory=dict)
    unconfirmed: dict[str, object] | None = None
    writes: int = 0


@dataclass
class Page:
    status: int
    location: str
    body: str
    retry_after: str | None


class Browser:
    """A researcher's browser: its cookies, the CSRF token of the page it shows, one connection.

    gunicorn's sync workers close the connection after each response; http.client reopens it.
    """

    def __init__(self, base_url: str, samples: list[Sample]):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.origin = f"https://{self.host}:{self.port}"
        self.samples = samples
        self.cookies: dict[str, str] = {}
        self.csrf_token = ""
        self.referer = self.origin + "/"
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)

    def get(self, kind: str, path: str) -> Page | None:
        """GET a page that must answer 200; None (and a failed sample) otherwise."""
        page = self._send(kind, "GET", path, None, expect_status=200)
        if page is not None:
            self.referer = self.origin + path
            found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
            if found:
                self.csrf_token = found.group(1)
        return page

    def post(self, kind: str, path: str, form: Mapping[str, str], redirect_to: str) -> bool:
        """POST a form as the browser would; True if the server redirected to ``redirect_to``."""
        body = urlencode({"csrfmiddlewaretoken": self.csrf_token, **form})
        return (
            self._send(kind, "POST", path, body, expect_status=302, expect_location=redirect_to)
            is not None
        )

    def fail(self, kind: str, path: str, problem: str, body: str = "") -> None:
        """Record that a page answered but did not show what the last write should show."""
        now = time.monotonic()
        self.samples.append(Sample(kind, "CHECK", path, now, 0.0, 200, False, problem, body[:4000]))

    def _send(
        self,
        kind: str,
        method: str,
        path: str,
        body: str | None,
        *,
        expect_status: int,
        expect_location: str | None = None,
    ) -> Page | None:
        headers = {
            "X-Forwarded-Proto": "https",
            # Read by bench/gunicorn_cpu.py only: the server's CPU time by kind of request.
            "X-Bench-Kind": kind,
            "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
            "User-Agent": "uplift-bench-load",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
            headers["Referer"] = self.referer
        started = time.monotonic()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            content = response.read().decode("utf-8", errors="replace")
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            self.samples.append(
                Sample(kind, method, path, started, time.monotonic() - started, 0, False,
                       f"no response: {type(error).__name__}: {error}")
            )  # fmt: skip
            return None
        seconds = time.monotonic() - started
        for header in response.headers.get_all("Set-Cookie") or []:
            self._remember_cookie(header)
        page = Page(
            response.status,
            response.headers.get("Location", ""),
            content,
            response.headers.get("Retry-After"),
        )
        problem = ""
        if page.status != expect_status:
            problem = f"status {page.status}, expected {expect_status}"
        elif expect_location is not None and urlsplit(page.location).path != expect_location:
            problem = f"redirected to {page.location!r}, expected {expect_location!r}"
        self.samples.append(
            Sample(kind, method, path, started, seconds, page.status, not problem, problem,
                   content[:4000] if problem else "", page.retry_after)
        )  # fmt: skip
        return None if problem else page

    def _remember_cookie(self, header: str) -> None:
        name, _, rest = header.partition("=")
        value, *attributes = rest.split(";")
        expired = any(
            a.strip().lower() in ("max-age=0", "expires=thu, 01 jan 1970 00:00:00 gmt")
            for a in attributes
        )
        if expired or value in ("", '""'):
            self.cookies.pop(name.strip(), None)
        else:
            self.cookies[name.strip()] = value.strip()


# --- A researcher's day -----------------------------------------------------------------------


def _minutes(value: float) -> str:
    return f"{value:.1f}"


def _select_options(page: str, name: str) -> dict[str, str]:
    """Label -> value of the options of the select named ``name``."""
    found = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', page, re.S)
    if not found:
        return {}
    return {
        html.unescape(label.strip()): value
        for value, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', found[1])
        if value
    }


class Researcher:
    """One simulated researcher: signs in, then plans, times and closes tasks until told."""

    def __init__(
        self,
        *,
        username: str,
        base_url: str,
        run_id: str,
        seed: int,
        think: float = 0.0,
        session: tuple[str, str] | None = None,
    ):
        self.username = username
        self.think = think  # mean seconds between a person's actions (0: never pause)
        self.session = session  # (cookie name, key) of a session made in the database
        self.until = float("inf")
        self.stop: threading.Event | None = None
        self.run_id = run_id
        self.samples: list[Sample] = []
        self.tasks: list[TaskRecord] = []
        self.browser = Browser(base_url, self.samples)
        self.random = random.Random(seed)
        self.last_closed: TaskRecord | None = None

    def sign_in(self) -> bool:
        if self.session is not None:
            # Signed in already: the session was written in the session store. The first page
            # (and its CSRF token) comes with the researcher's first action, not all at once.
            name, key = self.session
            self.browser.cookies[name] = key
            return True
        if self.browser.get("login_page", "/accounts/login/") is None:
            return False
        form = {"username": self.username, "password": PASSWORD, "next": "/"}
        if not self.browser.post("login", "/accounts/login/", form, redirect_to="/"):
            return False
        return self.browser.get("today", "/") is not None

    def work(self, until: float, stop: threading.Event) -> None:
        self.until, self.stop = until, stop
        if self.think and not self._wait(self.random.uniform(0, self.think)):
            return  # people do not all start at once
        cycle = 0
        while time.monotonic() < until and not stop.is_set():
            cycle += 1
            done = self.task_cycle(cycle)
            # History after the first task and every third one after it: a short run covers it.
            if done and cycle % 3 == 1 and time.monotonic() < until:
                done = self.history()
            if done:
                # The floor: a page that signs in, runs every middleware and renders
                # base.html with a static text (no form, no query of its own).
                done = self.browser.get("floor", "/how-it-works/") is not None
            if not done and not self.think:
                time.sleep(PAUSE_AFTER_ERROR)

    def act(self) -> bool:
        """Before each thing a person does (a click, a form sent): in the realistic mode the
        pause of a person, 0.5 to 1.5 times ``think``; False once the run is over (the task
        in hand is left where it is)."""
        if not self.think:
            return True
        return self._wait(self.think * self.random.uniform(0.5, 1.5))

    def _wait(self, seconds: float) -> bool:
        left = self.until - time.monotonic()
        if seconds >= left:
            if self.stop is not None:
                self.stop.wait(max(0.0, left))
            return False
        return not (self.stop is not None and self.stop.wait(seconds))

    def task_cycle(self, cycle: int) -> bool:
        """Plan one task and take it to its end; False as soon as a request fails."""
        if not self.act():
            return False
        today = self.browser.get("today", "/")
        if today is None:
            return False
        task = self.plan(today.body, cycle)
        if task is None or task.task_id is None:
            return False
        flow = self.random.choices(["timer", "typed", "abandon"], weights=[6, 3, 1])[0]
        if flow == "timer":
            return self.timer_flow(task)
        if flow == "typed":
            return self.typed_flow(task)
        return self.abandon_flow(task)

    def plan(self, today: str, cycle: int) -> TaskRecord | None:
        types = _select_options(today, "task_type")
        choices = [types[name] for name in TASK_TYPES if name in types]
        if not choices:
            self.browser.fail("plan", "/", "the plan form offers none of the bench task types")
            return None
        forecast_no_ai = round(self.random.uniform(15, 240), 1)
        forecast_ai = round(max(1.0, forecast_no_ai * self.random.uniform(0.5, 1.1)), 1)
        title = f"{self.run_id} {self.username} task {cycle}"
        task = TaskRecord(owner=self.username, title=title, planned_at=time.monotonic())
        self.tasks.append(task)
        form = {
            "title": title,
            "task_type": self.random.choice(choices),
            "team": "",
            "forecast_no_ai_minutes": _minutes(forecast_no_ai),
            "forecast_ai_minutes": _minutes(forecast_ai),
        }
        if 'name="uses_ai"' in today:
            form["uses_ai"] = ""
        if not self.act():
            return None
        planned = {
            "forecast_no_ai_minutes": forecast_no_ai,
            "forecast_ai_minutes": forecast_ai,
            "assignment": "randomized",
            "status": "planned",
            "sessions": 0,
            "sessions_running": 0,
            "tools": frozenset(),
            "actual_minutes": None,
            "perceived_other_minutes": None,
            "abandoned_reason": "",
        }
        if not self.write(task, planned, "plan", "/", form, "/"):
            return None
        task.planned = True
        page = self.browser.get("today", "/")
        if page is None:
            return task
        escaped = re.escape(html.escape(title))
        drawn = re.search(rf"Planned “{escaped}”: (AI allowed|No AI)\.", page.body)
        link = re.search(rf'href="/tasks/(\d+)/">{escaped}</a>', page.body)
        if not drawn or not link:
            self.browser.fail("today", "/", f"Today does not show the planned {title!r}", page.body)
            return task
        task.expected["condition"] = CONDITIONS[drawn[1]]
        task.task_id = int(link[1])
        return task

    def write(
        self,
        task: TaskRecord,
        fields: dict[str, object],
        kind: str,
        path: str,
        form: Mapping[str, str],
        redirect_to: str,
    ) -> bool:
        """Post one write of ``task``; its fields are expected if acknowledged, else unconfirmed."""
        task.unconfirmed = fields
        if not self.browser.post(kind, path, form, redirect_to):
            return False
        task.expected.update(fields)
        task.unconfirmed = None
        task.writes += 1
        return True

    def timer_flow(self, task: TaskRecord) -> bool:
        base = f"/tasks/{task.task_id}/"
        started = time.monotonic()
        start = {"action": "start", "next": "/"}
        # Until it is stopped here, another task's start may stop the timer.
        running = {"status": "in_progress", "sessions": 1, "sessions_running": ANY}
        if not self.act():
            return False
        if not self.write(task, running, "timer_start", f"{base}timer/", start, "/"):
            return False
        page = self.browser.get("today", "/")
        if page is None:
            return False
        if "Timer running" not in page.body:
            self.browser.fail("today", "/", f"no running timer after starting {task.title!r}")
        if not self.act() or self.browser.get("task", base) is None:
            return False
        stop = {"action": "stop"}
        stopped = {"sessions_running": 0}
        if not self.act():
            return False
        if not self.write(task, stopped, "timer_stop", f"{base}timer/", stop, base):
            return False
        page = self.browser.get("task", base)
        if page is None or not self.tools(task, page.body):
            return False
        elapsed = (time.monotonic() - started) / 60
        # The timer's sessions, but never less than the smallest time Uplift records.
        upper = max(elapsed + 1 / 60, MIN_MINUTES)
        return self.complete(task, actual=None, actual_range=(0.0, upper))

    def typed_flow(self, task: TaskRecord) -> bool:
        if not self.act():
            return False
        page = self.browser.get("task", f"/tasks/{task.task_id}/")
        if page is None or not self.tools(task, page.body):
            return False
        actual = round(self.random.uniform(5, 300), 1)
        return self.complete(task, actual=actual, actual_range=(actual, actual))

    def abandon_flow(self, task: TaskRecord) -> bool:
        base = f"/tasks/{task.task_id}/"
        if not self.act() or self.browser.get("task", base) is None:
            return False
        reason = f"Superseded by {self.random.choice(['a new plan', 'a colleague', 'events'])}"
        abandoned = {"status": "abandoned", "abandoned_reason": reason}
        form = {"reason": reason}
        if not self.act():
            return False
        if not self.write(task, abandoned, "abandon", f"{base}abandon/", form, "/"):
            return False
        self.last_closed = task
        return self.browser.get("today", "/") is not None

    def tools(self, task: TaskRecord, page: str) -> bool:
        """Tick none, one or two of the catalog's tools, each with minutes or without."""
        tool_ids = [int(i) for i in re.findall(r'name="tool_(\d+)"', page)]
        if not tool_ids:
            self.browser.fail("task", f"/tasks/{task.task_id}/", "no AI tools offered", page)
            return False
        chosen = self.random.sample(tool_ids, k=self.random.choice([0, 1, 1, 2]))
        form, uses = {}, set()
        for tool_id in tool_ids:
            modes = list(_select_options(page, f"mode_{tool_id}").values()) or ["other"]
            mode = self.random.choice(modes) if tool_id in chosen else "other"
            minutes = round(self.random.uniform(1, 60), 1) if self.random.random() < 0.7 else None
            if tool_id in chosen:
                form[f"tool_{tool_id}"] = "on"
                uses.add((tool_id, minutes, mode))
            form[f"minutes_{tool_id}"] = _minutes(minutes) if minutes and tool_id in chosen else ""
            form[f"mode_{tool_id}"] = mode
        base = f"/tasks/{task.task_id}/"
        if not self.act():
            return False
        if not self.write(task, {"tools": frozenset(uses)}, "tools", f"{base}tools/", form, base):
            return False
        return self.browser.get("task", base) is not None

    def complete(
        self, task: TaskRecord, *, actual: float | None, actual_range: tuple[float, float]
    ) -> bool:
        base = f"/tasks/{task.task_id}/"
        perceived = round(self.random.uniform(5, 300), 1) if self.random.random() < 0.6 else None
        form = {"perceived_other_minutes": _minutes(perceived) if perceived else ""}
        if actual is not None:
            form["actual_minutes"] = _minutes(actual)
        completed = {
            "status": "completed",
            "actual_minutes": actual_range,
            "perceived_other_minutes": perceived,
            "sessions_running": 0,
        }
        if not self.act():
            return False
        if not self.write(task, completed, "complete", f"{base}complete/", form, "/"):
            return False
        self.last_closed = task
        page = self.browser.get("today", "/")
        if page is None:
            return False
        if f"Completed “{html.escape(task.title)}” in" not in page.body:
            self.browser.fail("today", "/", f"no confirmation of completing {task.title!r}")
        return True

    def history(self) -> bool:
        if not self.act():
            return False
        page = self.browser.get("history", "/history/")
        if page is None:
            return False
        closed = self.last_closed
        if closed is not None and f">{html.escape(closed.title)}</a>" not in page.body:
            self.browser.fail("history", "/history/", f"History does not list {closed.title!r}")
        return True


# --- Running many researchers -----------------------------------------------------------------


@dataclass
class LoadResult:
    run_id: str  # every task title of the run starts with it
    users: int
    signed_in: int
    seconds: float  # the measured window: from all signed in to the last task finished
    window_started: float  # monotonic
    window_started_at: datetime  # wall clock, for the database
    sign_in_seconds: float
    samples: list[Sample]
    tasks: list[TaskRecord]

    @property
    def measured(self) -> list[Sample]:
        """The requests of the window: signing in comes before it and is counted apart."""
        return [s for s in self.samples if s.started >= self.window_started]

    @property
    def failures(self) -> list[Sample]:
        return [s for s in self.samples if not s.ok]

    @property
    def acknowledged_writes(self) -> int:
        return sum(task.writes for task in self.tasks)


class Load:
    """Researchers, each in a thread, working from ``start()`` (once all signed in) for
    ``seconds``; ``join()`` returns what happened."""

    def __init__(
        self,
        *,
        base_url: str,
        usernames: list[str],
        seconds: float,
        seed: int = 1,
        think: float = 0.0,
        sessions: Mapping[str, tuple[str, str]] | None = None,
    ):
        self.run_id = f"bench{uuid.uuid4().hex[:8]}"
        self.seconds = seconds
        self.researchers = [
            Researcher(
                username=name,
                base_url=base_url,
                run_id=self.run_id,
                seed=seed * 1000 + i,
                think=think,
                session=(sessions or {}).get(name),
            )  # fmt: skip
            for i, name in enumerate(usernames)
        ]
        self.stop_event = threading.Event()
        self._signed_in: list[bool] = [False] * len(usernames)
        self._window = threading.Event()
        self._until = 0.0
        self._threads: list[threading.Thread] = []
        self._started = self._sign_in_started = 0.0
        self._started_at = datetime.now(UTC)

    def start(self, timeout: float = 180) -> None:
        """Sign every researcher in (concurrently), then open the measured window."""
        self._sign_in_started = time.monotonic()
        ready = threading.Barrier(len(self.researchers) + 1, timeout=timeout)
        if len(self.researchers) > 200:
            threading.stack_size(256 * 1024)  # a thousand threads, each a small stack
        for index, researcher in enumerate(self.researchers):
            thread = threading.Thread(
                target=self._run, args=(index, researcher, ready), daemon=True
            )
            thread.start()
            self._threads.append(thread)
        ready.wait()
        self._started = time.monotonic()
        self._started_at = datetime.now(UTC)
        self._until = self._started + self.seconds
        self._window.set()

    def _run(self, index: int, researcher: Researcher, ready: threading.Barrier) -> None:
        try:
            self._signed_in[index] = researcher.sign_in()
        finally:
            ready.wait()
        self._window.wait()
        if not self._signed_in[index]:
            return
        try:
            researcher.work(self._until, self.stop_event)
        except Exception:
            # A fault of the benchmark itself counts as an error, never as a quiet success.
            researcher.browser.fail("crash", "-", traceback.format_exc())

    @property
    def window_started(self) -> float:
        return self._started

    def join(self) -> LoadResult:
        # Each researcher finishes the task in hand: the window ends with the last of them.
        for thread in self._threads:
            thread.join(timeout=max(0.0, self._until - time.monotonic()) + REQUEST_TIMEOUT * 3)
        ended = time.monotonic()
        samples = [sample for r in self.researchers for sample in r.samples]
        return LoadResult(
            run_id=self.run_id,
            users=len(self.researchers),
            signed_in=sum(self._signed_in),
            seconds=ended - self._started,
            window_started=self._started,
            window_started_at=self._started_at,
            sign_in_seconds=self._started - self._sign_in_started,
            samples=sorted(samples, key=lambda sample: sample.started),
            tasks=[task for r in self.researchers for task in r.tasks],
        )


# --- The database's side ----------------------------------------------------------------------


def researchers_create(*, env: Mapping[str, str], count: int) -> list[str]:
    """Migrate the env's database and create ``count`` researchers; their usernames."""
    usernames = [f"{USERNAME_PREFIX}{i:03d}" for i in range(count)]
    code = (
        "import django; django.setup(); from bench.load import database_prepare_here; "
        f"database_prepare_here({json.dumps(usernames)})"
    )
    python("-c", code, env={**env, "DJANGO_SETTINGS_MODULE": "uplift.settings"}, timeout=600)
    return usernames


def sessions_create(*, env: Mapping[str, str], usernames: list[str]) -> dict[str, tuple]:
    """A signed-in session for each researcher, written straight into the session store.

    What signing in through the form leaves there, without a password hash per researcher
    (about 0.3 s of CPU each: a thousand would take minutes before the run).
    """
    code = (
        "import django; django.setup(); from bench.load import sessions_create_here; "
        f"sessions_create_here({json.dumps(usernames)})"
    )
    out = python("-c", code, env={**env, "DJANGO_SETTINGS_MODULE": "uplift.settings"})
    cookie, keys = json.loads(out.strip().splitlines()[-1])
    return {name: (cookie, key) for name, key in keys.items()}


def sessions_create_here(usernames: list[str]) -> None:
    """In a Django process: print the session cookie's name and each researcher's key."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from uplift.accounts.models import User

    store = SessionStore()
    expires = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    rows, keys = [], {}
    for user in User.objects.filter(username__in=usernames):
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[-1],
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expires))
        keys[user.username] = key
    Session.objects.bulk_create(rows)
    print(json.dumps([settings.SESSION_COOKIE_NAME, keys]))


def database_prepare_here(usernames: list[str]) -> None:
    """In a Django process: migrate, then one team, task types, tools and the researchers."""
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import transaction

    from uplift.accounts.models import Membership, Team, User
    from uplift.worklog.models import TaskType, Tool

    call_command("migrate", interactive=False, verbosity=0)
    password = make_password(PASSWORD)  # one slow hash, shared by every researcher
    with transaction.atomic():
        team, _ = Team.objects.get_or_create(name=TEAM)
        for name in TASK_TYPES:
            TaskType.objects.get_or_create(name=name)
        for name in TOOLS:
            Tool.objects.get_or_create(name=name)
        for username in usernames:
            user, _ = User.objects.update_or_create(
                username=username,
                defaults={"email": f"{username}@bench.invalid", "password": password},
            )
            Membership.objects.get_or_create(user=user, team=team)


TASKS_SQL = """
SELECT t.id, u.username, t.title, t.forecast_no_ai_minutes, t.forecast_ai_minutes,
       t.assignment, t.condition, t.status, t.actual_minutes, t.perceived_other_minutes,
       t.abandoned_reason,
       (SELECT count(*) FROM worklog_worksession s WHERE s.task_id = t.id),
       (SELECT count(*) FROM worklog_worksession s WHERE s.task_id = t.id AND s.ended_at IS NULL)
FROM worklog_task t JOIN accounts_user u ON u.id = t.owner_id
WHERE t.title LIKE %s
"""
TOOL_USES_SQL = """
SELECT u.task_id, u.tool_id, u.minutes, u.mode FROM worklog_tooluse u
JOIN worklog_task t ON t.id = u.task_id WHERE t.title LIKE %s
"""
COLUMNS = ("task_id", "owner", "title", "forecast_no_ai_minutes", "forecast_ai_minutes",
           "assignment", "condition", "status", "actual_minutes", "perceived_other_minutes",
           "abandoned_reason", "sessions", "sessions_running")  # fmt: skip


@dataclass
class Verification:
    tasks_found: int
    tasks_checked: int
    writes_checked: int
    missing: list[str]
    different: list[str]
    unexplained: list[str]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.different or self.unexplained)


def _same(want: object, got: object) -> bool:
    if want is ANY:
        return True
    if isinstance(want, tuple):  # an inclusive range of minutes
        return got is not None and want[0] - 1e-9 <= got <= want[1] + 1e-9 and got > 0
    if isinstance(want, float) and isinstance(got, float):
        return abs(want - got) < 1e-9
    return want == got


def writes_verify(database_url: str, result: LoadResult) -> Verification:
    """Check every acknowledged write of ``result`` against the database, field by field."""
    prefix = f"{result.run_id} %"
    with psycopg.connect(database_url) as conn:
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in conn.execute(TASKS_SQL, [prefix])]
        uses: dict[int, set] = {}
        for task_id, tool_id, minutes, mode in conn.execute(TOOL_USES_SQL, [prefix]):
            uses.setdefault(task_id, set()).add((tool_id, minutes, mode))
    by_title: dict[str, list[dict]] = {}
    for row in rows:
        row["tools"] = frozenset(uses.get(row["task_id"], set()))
        by_title.setdefault(row["title"], []).append(row)

    missing, different, unexplained = [], [], []
    checked = 0
    attempted = {task.title for task in result.tasks}
    for title in by_title:
        if title not in attempted:
            unexplained.append(f"{title!r}: in the database, never planned by the benchmark")
    for task in result.tasks:
        found = by_title.get(task.title, [])
        if len(found) > 1:
            different.append(f"{task.title!r}: {len(found)} tasks with this title")
            continue
        if not found:
            if task.planned:
                missing.append(f"{task.title!r}: acknowledged plan, not in the database")
            continue
        row = found[0]
        checked += 1
        if row["owner"] != task.owner:
            different.append(f"{task.title!r}: owner {row['owner']}, expected {task.owner}")
        if task.task_id is not None and row["task_id"] != task.task_id:
            different.append(f"{task.title!r}: id {row['task_id']}, expected {task.task_id}")
        maybe = task.unconfirmed or {}
        expected = task.expected if task.planned else {**maybe, **task.expected}
        for name, want in expected.items():
            got = row[name]
            if not _same(want, got) and not (name in maybe and _same(maybe[name], got)):
                different.append(f"{task.title!r} (id {row['task_id']}): {name} is {got!r}, "
                                 f"expected {want!r}")  # fmt: skip
    return Verification(
        tasks_found=len(rows),
        tasks_checked=checked,
        writes_checked=result.acknowledged_writes,
        missing=missing,
        different=different,
        unexplained=unexplained,
    )


def refreshes_since(database_url: str, since: datetime) -> Counter[str]:
    """Estimate refreshes the Celery worker started since ``since``, by status."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM estimates_snapshot WHERE started_at >= %s "
            "GROUP BY status",
            [since],
        )
        return Counter(dict(rows.fetchall()))


# --- Figures ----------------------------------------------------------------------------------

# The requests a researcher makes while logging work (History and the floor are apart).
LOGGING_KINDS = ("today", "plan", "timer_start", "task", "timer_stop", "tools", "complete",
                 "abandon")  # fmt: skip
CPU_CONFIG = ROOT / "bench" / "gunicorn_cpu.py"


class CpuLog:
    """The CPU time of each request as gunicorn's workers log it (bench/gunicorn_cpu.py)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._offsets: dict[Path, int] = {}

    def mark(self) -> None:
        """Count only the requests logged from now on (not the signing in)."""
        self._offsets = {path: path.stat().st_size for path in self.directory.glob("cpu-*.tsv")}

    def by_kind(self) -> dict[str, list[float]]:
        kinds: dict[str, list[float]] = {}
        for path in sorted(self.directory.glob("cpu-*.tsv")):
            with path.open() as log:
                log.seek(self._offsets.get(path, 0))
                for line in log:
                    kind, _, ms = line.rstrip("\n").partition("\t")
                    if ms:
                        kinds.setdefault(kind, []).append(float(ms))
        return kinds


def cpu_report(kinds: Mapping[str, list[float]]) -> str:
    """Median, mean and p95 CPU (ms) of gunicorn per kind of request, logging ones together."""
    logging = [ms for kind in LOGGING_KINDS for ms in kinds.get(kind, [])]
    rows = [("logging (all)", logging)] if logging else []
    rows += sorted(kinds.items())
    lines = [f"{'CPU by kind':<14} {'count':>7} {'median ms':>10} {'mean ms':>8} {'p95 ms':>8}"]
    for kind, values in rows:
        if values:
            mean = sum(values) / len(values)
            lines.append(f"{kind:<14} {len(values):>7,} {percentile(values, 50):>10.2f} "
                         f"{mean:>8.2f} {percentile(values, 95):>8.2f}")  # fmt: skip
    return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0-100) of ``values``."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def latency_rows(samples: list[Sample], seconds: float) -> Iterator[tuple]:
    """(kind, count, per second, p50, p95, p99, max in ms) overall then per kind."""
    timed = [s for s in samples if s.method != "CHECK"]
    groups = {"all": timed}
    for sample in timed:
        groups.setdefault(sample.kind, []).append(sample)
    for kind, group in groups.items():
        ms = [s.seconds * 1000 for s in group]
        yield (kind, len(group), len(group) / seconds if seconds else 0.0,
               percentile(ms, 50), percentile(ms, 95), percentile(ms, 99), max(ms))  # fmt: skip


def report(result: LoadResult, verification: Verification) -> str:
    measured = result.measured
    timed = [s for s in measured if s.method != "CHECK"]
    sign_ins = [s.seconds * 1000 for s in result.samples if s.kind == "login"]
    lines = [
        f"signed in {result.signed_in} of {result.users} researchers in "
        f"{result.sign_in_seconds:.1f} s"
        + (f" (sign-in post p50 {percentile(sign_ins, 50):.0f} ms)" if sign_ins else ""),
        f"requests: {len(timed):,} in {result.seconds:.1f} s = "
        f"{len(timed) / result.seconds:.1f} requests/s; errors: {len(result.failures)}",
        f"{'kind':<12} {'count':>7} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8}",
    ]
    if timed:
        for kind, count, rate, p50, p95, p99, top in latency_rows(measured, result.seconds):
            lines.append(f"{kind:<12} {count:>7,} {rate:>7.1f} {p50:>8.1f} {p95:>8.1f} "
                         f"{p99:>8.1f} {top:>8.1f}")  # fmt: skip
    statuses = Counter(str(t.expected.get("status")) for t in result.tasks if t.planned)
    lines.append(
        f"tasks planned: {sum(statuses.values()):,} ("
        + ", ".join(f"{n:,} {status}" for status, n in sorted(statuses.items()))
        + ")"
    )
    lines.append(
        f"acknowledged writes: {result.acknowledged_writes:,}; in the database: "
        f"{verification.tasks_checked:,} tasks checked field by field, "
        f"{len(verification.missing)} missing, {len(verification.different)} different, "
        f"{len(verification.unexplained)} unexplained"
    )
    for failure in result.failures[:20]:
        lines.append(f"  error: {failure.kind} {failure.method} {failure.path}: {failure.problem}")
    for problem in (verification.missing + verification.different + verification.unexplained)[:20]:
        lines.append(f"  write: {problem}")
    return "\n".join(lines)


# --- The command ------------------------------------------------------------------------------


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so that every server the benchmark started is stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mode",
        choices=("stress", "realistic"),
        default="stress",
        help="stress: researchers never pause (the default); realistic: each acts about once "
        "every --think seconds and is signed in through a session made in the session store",
    )
    parser.add_argument(
        "--users", type=int, help="simulated researchers (32; realistic mode: 1000)"
    )
    parser.add_argument("--seconds", type=float, help="length of the run (60; realistic mode: 180)")
    parser.add_argument(
        "--think",
        type=float,
        default=30,
        help="realistic mode: mean seconds between a researcher's actions, each pause drawn "
        "between half and one and a half times it (30)",
    )
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers (3)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument(
        "--refresh-max-wait",
        type=float,
        default=20,
        help="ESTIMATES_REFRESH_MAX_WAIT of the worker, so that refreshes run during the load "
        "(production: 120)",
    )
    args = parser.parse_args(argv)
    realistic = args.mode == "realistic"
    args.users = args.users or (1000 if realistic else 32)
    args.seconds = args.seconds or (180 if realistic else 60)
    args.think = args.think if realistic else 0.0

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("interrupted: servers stopped", file=sys.stderr)
        return 130


def run(args: argparse.Namespace) -> int:
    """Prepare the database, start the servers, run the researchers, verify, report."""
    bench_database_create(args.database_url)
    env = app_env(
        database_url=args.database_url,
        broker_url=args.redis_url,
        ESTIMATES_REFRESH_MAX_WAIT=str(args.refresh_max_wait),
    )
    started = time.monotonic()
    usernames = researchers_create(env=env, count=args.users)
    sessions = sessions_create(env=env, usernames=usernames) if args.think else None
    static_collect(env)
    print(f"database {urlsplit(args.database_url).path.lstrip('/')} migrated, "
          f"{args.users} researchers ready in {time.monotonic() - started:.1f} s")  # fmt: skip
    with contextlib.ExitStack() as servers:
        log_dir = Path(servers.enter_context(tempfile.TemporaryDirectory(prefix="bench-load-")))
        worker = servers.enter_context(CeleryWorker(env=env, log_dir=log_dir, concurrency=2))
        web_env = {**env, "BENCH_CPU_LOG_DIR": str(log_dir)}
        web = servers.enter_context(
            Gunicorn(env=web_env, workers=args.workers, log_dir=log_dir, config=CPU_CONFIG)
        )
        cpu_log = CpuLog(log_dir)
        pace = f"acting every {args.think:.0f} s or so" if args.think else "never pausing"
        print(f"{args.mode} mode: gunicorn ({args.workers} sync workers) on {web.url}, Celery "
              f"worker (2 processes); {args.users} researchers {pace}, for "
              f"{args.seconds:.0f} s; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        load = Load(base_url=web.url, usernames=usernames, seconds=args.seconds,
                    think=args.think, sessions=sessions)  # fmt: skip
        try:
            load.start()
            cpu_log.mark()
            cpu = [web.cpu_seconds(), worker.cpu_seconds(), time.process_time()]
            result = load.join()
            cpu = [web.cpu_seconds() - cpu[0], worker.cpu_seconds() - cpu[1],
                   time.process_time() - cpu[2]]  # fmt: skip
        finally:
            load.stop_event.set()
        load_average = os.getloadavg()[0]
        cpu_kinds = cpu_log.by_kind()
        refreshes = refreshes_since(args.database_url, result.window_started_at)
        verification = writes_verify(args.database_url, result)
        for server in (worker, web):
            if not server.is_running():
                print(f"{server.log.name} exited during the run:\n{server.output()[-4000:]}")
                return 1
    print(report(result, verification))
    states = ", ".join(f"{n} {status}" for status, n in sorted(refreshes.items()))
    print(
        f"estimates: the Celery worker started {refreshes.total()} refreshes during the run"
        + (f" ({states} when it was stopped)" if refreshes else "")
    )
    requests = sum(1 for s in result.measured if s.method != "CHECK")
    print(
        f"CPU during the run: gunicorn {cpu[0]:.1f} s ({1000 * cpu[0] / max(requests, 1):.1f} ms "
        f"per request), Celery worker {cpu[1]:.1f} s, this client {cpu[2]:.1f} s, of "
        f"{result.seconds * (os.cpu_count() or 1):.0f} s on {os.cpu_count()} cores; "
        f"load average at the end {load_average:.2f}"
    )
    print(cpu_report(cpu_kinds))
    return 0 if not result.failures and verification.ok and result.signed_in else 1


if __name__ == "__main__":
    sys.exit(main())
