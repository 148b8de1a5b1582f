"""Real server processes for the tests: a throwaway Redis, a Celery worker and Celery beat.

Each process writes its output to a log file in the test's temporary directory; a process that
exits while a test waits for it fails the test with its log.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

from bench.servers import CeleryWorker, ServerProcess, free_port
from uplift.celery_app import app as celery_app

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 30, interval: float = 0.05) -> T:
    """The first truthy value of ``condition()``, polled until ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def manage_local(*args: str, var_dir: Path, timeout: float = 600):
    """Run ``manage.py`` in local mode (DEBUG, SQLite and the broker in ``var_dir``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=Path(__file__).resolve().parents[1],
        env={**env, "DEBUG": "1", "UPLIFT_VAR_DIR": str(var_dir)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def database_url(name: str | None = None) -> str:
    """The URL of the test database (or of database ``name`` on its server), for processes."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{db['USER']}{password}@{host}/{name or db['NAME']}"


def celery_app_publishes_to(broker_url: str, *, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this process's Celery app publish to ``broker_url`` until the test ends."""
    # The environment's CELERY_BROKER_URL wins over broker_url; the write URL wins over both.
    monkeypatch.setitem(celery_app.conf, "broker_write_url", broker_url)
    monkeypatch.setitem(celery_app.conf, "broker_read_url", broker_url)
    # The connection and producer pools are built once, for the URL of that time: without
    # this the change would be ignored, or would outlive the test if the pools were built now.
    monkeypatch.setattr(celery_app, "_pool", None)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)


def celery_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """The environment of a Celery process: the test database, the test's refresh delay."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "ESTIMATES_REFRESH_DELAY": str(settings.ESTIMATES_REFRESH_DELAY),
        **(env or {}),
    }


class Worker(CeleryWorker):
    """A `celery worker` process on the test database and broker (``env`` overrides)."""

    def __init__(self, log_dir: Path, env: Mapping[str, str] | None = None):
        super().__init__(env=celery_env(env), log_dir=log_dir, pool="solo")


class Beat(ServerProcess):
    """A `celery beat` process with its schedule file in ``log_dir`` (``env`` overrides)."""

    def __init__(self, log_dir: Path, env: Mapping[str, str] | None = None):
        name = uuid.uuid4().hex[:8]
        super().__init__(
            [sys.executable, "-m", "celery", "-A", "uplift", "beat", "--loglevel", "INFO",
             "--schedule", str(log_dir / f"beat-schedule-{name}")],
            log=log_dir / f"beat-{name}.log",
            env=celery_env(env),
        )  # fmt: skip
        self.wait_for("beat: Starting...")


class RedisServer:
    """A throwaway `redis-server` that keeps nothing on disk, on its own port.

    It can be killed and started again on the same port, as when Redis crashes and comes back.
    """

    def __init__(self, directory: Path):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.server: ServerProcess | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.server = ServerProcess(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            log=self.directory / f"redis-{self.starts}.log",
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            wait_until(lambda: self._answers(client), timeout=10)
        finally:
            client.close()

    def _answers(self, client: redis.Redis) -> bool:
        assert self.server is not None and self.server.is_running(), self.server.output()
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def kill(self) -> None:
        if self.server is not None and self.server.is_running():
            self.resume()
            self.server.kill()

    def pause(self) -> None:
        """SIGSTOP: Redis still accepts connections but answers nothing, as when it hangs."""
        assert self.server is not None
        os.kill(self.server.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.server is not None
        os.kill(self.server.process.pid, signal.SIGCONT)
