"""Real server processes for benchmarks and tests: gunicorn, a Celery worker, a PostgreSQL.

Each process runs in its own session (Ctrl-C in a terminal reaches only the benchmark, which
then stops them all), with its output in a log file. Nothing here imports Django:

    env = app_env(database_url=url, broker_url="redis://127.0.0.1:6379/13")
    with PostgresCluster() as postgres, Gunicorn(env=env, workers=2, log_dir=tmp) as web:
        ...
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BENCH_SECRET_KEY = "bench-only-secret-key-never-used-in-production-0123456789abcdefghijklmn"


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def app_env(*, database_url: str, broker_url: str, **overrides: str) -> dict[str, str]:
    """The environment of the app's processes: production settings (DEBUG off) on loopback."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "uplift.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "DEBUG": "",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or BENCH_SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "STATIC_ROOT": os.environ.get("STATIC_ROOT") or str(ROOT / "var" / "bench-static"),
        "LOG_LEVEL": "WARNING",
        **overrides,
    }


def manage(*args: str, env: Mapping[str, str], timeout: float = 300) -> str:
    """Run ``manage.py`` with ``env``; its output, or RuntimeError with it if it failed."""
    return python("manage.py", *args, env=env, timeout=timeout)


def python(*args: str, env: Mapping[str, str], timeout: float = 300) -> str:
    """Run this Python in the repository with ``env``; its output, or RuntimeError with it."""
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)[:200]} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def static_collect(env: Mapping[str, str], *, only_if_missing: bool = False) -> None:
    """Collect static files into the env's STATIC_ROOT: pages need its manifest, DEBUG off."""
    if only_if_missing and (ROOT / env["STATIC_ROOT"] / "staticfiles.json").exists():
        return
    manage("collectstatic", "--no-input", "-v", "0", env=env)


def bench_database_create(database_url: str) -> None:
    """Create the database if missing; refuse an existing one whose name lacks "bench"."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit(f"{database_url!r} is not a PostgreSQL URL.")
    name = parts.path.lstrip("/")
    server = parts._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(server, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and "bench" not in name:
            raise SystemExit(
                f"Refusing to load {name!r}: its name does not contain 'bench'. Name a new "
                "database (it is created) or one made for benchmarks."
            )
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


class ServerProcess:
    """A process in its own session, its output in ``log``; ``stop`` ends its whole group."""

    def __init__(
        self,
        command: list[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
    ):
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as output:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT if user is None else "/",
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=user,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, *, timeout: float = 60) -> None:
        """Wait until ``text`` appears in the log; RuntimeError if the process exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            self._check_running()
            time.sleep(0.05)
        raise RuntimeError(f"{self.log.name} did not log {text!r}:\n{self.output()[-4000:]}")

    def _check_running(self) -> None:
        if not self.is_running():
            raise RuntimeError(f"{self.log.name}: the process exited:\n{self.output()[-4000:]}")

    def cpu_seconds(self) -> float:
        """CPU time (user and system) used so far by the process and its live descendants."""
        return sum(_cpu_seconds(pid) for pid in process_tree(self.pid))

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        self.signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the whole group, then SIGKILL if it has not exited within ``timeout``."""
        if self.is_running():
            self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def process_tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [pid, *(descendant for child in children for descendant in process_tree(int(child)))]


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Gunicorn(ServerProcess):
    """gunicorn serving the app on a free loopback port, ready once ``/healthz`` answers 200."""

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        workers: int,
        log_dir: Path,
        port: int | None = None,
        ready_timeout: float = 90,
        timeout: int = 60,
        config: Path | None = None,
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [str(BIN / "gunicorn"), "uplift.wsgi:application",
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
             "--timeout", str(timeout), "--graceful-timeout", "10",
             *(["--config", str(config)] if config else [])],
            log=log_dir / f"gunicorn-{self.port}.log",
            env=env,
        )  # fmt: skip
        try:
            self._wait_until_healthy(ready_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_until_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_running()
            if self.health() == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn: /healthz did not answer 200:\n{self.output()[-4000:]}")

    def health(self) -> int:
        """The status of ``GET /healthz``, 0 if nothing answered."""
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    def worker_pids(self) -> list[int]:
        """The pids of the master's workers: a worker that died is replaced by a new pid."""
        return sorted(process_tree(self.pid)[1:])


class CeleryWorker(ServerProcess):
    """A ``celery worker`` on the env's database and broker, ready once it says so."""

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        log_dir: Path,
        concurrency: int = 1,
        pool: str = "prefork",
    ):
        name = f"bench-{uuid.uuid4().hex[:8]}"
        super().__init__(
            [sys.executable, "-m", "celery", "-A", "uplift", "worker", "--pool", pool,
             "--concurrency", str(concurrency), "--hostname", f"{name}@localhost",
             "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            log=log_dir / f"worker-{name}.log",
            env=env,
        )  # fmt: skip
        try:
            self.wait_for(" ready.")
        except BaseException:
            self.stop()
            raise


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if found:
        return found[-1].parent
    on_path = shutil.which("postgres")
    if on_path is None:
        raise RuntimeError("PostgreSQL's server binaries (initdb, postgres) are not installed.")
    return Path(on_path).parent


class PostgresCluster:
    """A throwaway PostgreSQL: ``initdb`` into a temporary folder, served on a free port.

    It can be stopped and started again on the same port and data, as when the database
    server restarts. PostgreSQL refuses to run as root: as root it runs as ``postgres``.
    """

    def __init__(self, port: int | None = None):
        self.bin = _postgres_bin()
        self.port = port or free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.directory = Path(tempfile.mkdtemp(prefix="uplift-postgres-"))
        self.data = self.directory / "data"
        if self.user is not None:
            account = pwd.getpwnam(self.user)
            os.chown(self.directory, account.pw_uid, account.pw_gid)
        self.server: ServerProcess | None = None
        self.starts = 0
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth", "trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")  # fmt: skip

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [str(self.bin / program), *args],
            cwd="/",
            capture_output=True,
            text=True,
            timeout=120,
            user=self.user,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed:\n{result.stdout}{result.stderr}")

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until it accepts connections."""
        self.starts += 1
        self.server = ServerProcess(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.directory), "-c", "listen_addresses=127.0.0.1",
             "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=100"],
            log=self.directory / f"postgres-{self.starts}.log",
            user=self.user,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self.answers():
            self.server._check_running()
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start:\n{self.server.output()[-4000:]}")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.url(), connect_timeout=2) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)
        except psycopg.Error:
            return False

    def stop(self, mode: str = "fast", timeout: float = 60) -> None:
        """Shut down: ``fast`` disconnects clients and checkpoints; ``immediate`` is a crash."""
        signum = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}
        if self.server is None or not self.server.is_running():
            return
        os.kill(self.server.pid, signum[mode])
        try:
            self.server.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.server.kill()

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def database_create(self, name: str) -> str:
        """Create a database on this server; its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def destroy(self) -> None:
        """Stop the server (as a crash: nothing to keep) and delete its files."""
        self.stop("immediate")
        if self.server is not None and self.server.is_running():
            self.server.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self):
        if self.server is None:
            self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.destroy()
