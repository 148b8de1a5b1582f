"""``make run`` on a machine with no services: ``python -m uplift.local`` migrates SQLite, loads
the demo, serves it, and its Celery worker computes on the broker in folders; Ctrl-C stops all.
"""

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from bench.servers import free_port, process_tree
from tests.processes import wait_until

pytestmark = [pytest.mark.servers, pytest.mark.worker]

ROOT = Path(__file__).resolve().parents[2]


class Visitor:
    """A browser without JavaScript: cookies, and the CSRF token of the last page."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.token = ""

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            body = response.read().decode()
        if found := re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body):
            self.token = found[1]
        return body

    def post(self, path: str, form: dict[str, str]) -> str:
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": self.token, **form}).encode()
        request = urllib.request.Request(
            self.base + path, data=data, headers={"Referer": self.base + path}
        )
        with self.opener.open(request, timeout=30) as response:
            return response.read().decode()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def test_make_run_serves_the_demo_computes_in_its_worker_and_stops_on_ctrl_c(tmp_path):
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: .*\n\tDEBUG=\$\$\{DEBUG-1\} .* -m uplift\.local$", makefile, re.M)
    port = free_port()
    # The Makefile's environment on a machine that configured nothing.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "SECRET_KEY")
    }
    env.update(DEBUG="1", PORT=str(port), UPLIFT_VAR_DIR=str(tmp_path))
    log = (tmp_path / "run.log").open("w")
    local = subprocess.Popen(
        [sys.executable, "-m", "uplift.local"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(base + "/healthz") or local.poll() is not None, timeout=180)
        assert local.poll() is None, (tmp_path / "run.log").read_text()
        assert (tmp_path / "uplift.sqlite3").is_file()

        lead = Visitor(base)
        lead.get("/accounts/login/")
        lead.post("/accounts/login/", {"username": "lin", "password": "uplift-demo"})
        lead.get("/dashboards/")
        page = lead.post("/dashboards/recompute/", {"next": "/dashboards/"})
        assert "Recompute requested: the figures update when it finishes." in page
        run = int(re.search(r'data-job-url="/dashboards/jobs/(\d+)/"', page)[1])

        def finished() -> str | None:
            status = lead.get(f"/dashboards/jobs/{run}/")
            return (
                re.search(r'"status": "(\w+)"', status)[1] not in ("pending", "running") and status
            )

        assert '"status": "succeeded"' in wait_until(finished, timeout=120, interval=0.5)
        children = process_tree(local.pid)[1:]
        assert len(children) >= 3  # the web server, the worker and beat

        local.send_signal(signal.SIGINT)
        assert local.wait(timeout=30) == 0
        assert [pid for pid in children if alive(pid)] == []
    finally:
        if local.poll() is None:
            os.killpg(local.pid, signal.SIGKILL)
        log.close()
