"""Zero-setup local mode: ``make run`` (``python -m uplift.local``).

Migrates the database, loads the demo organisation, then runs the web server, a Celery worker
and Celery beat as child processes. Ctrl-C (or any child exiting) stops them all.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CELERY = [PYTHON, "-m", "celery", "-A", "uplift"]


def _manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, check=True)


def _children(port: str, var_dir: Path) -> dict[str, list[str]]:
    return {
        "web": [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        # A fixed hostname keeps the broker's control folder from filling with stale mailboxes.
        "worker": [
            *CELERY,
            "worker",
            "--pool",
            "solo",
            "--hostname",
            "local@uplift",
            "--loglevel",
            "INFO",
        ],
        "beat": [
            *CELERY,
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(var_dir / "celerybeat-schedule"),
        ],
    }


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uplift.settings")
    port = os.environ.get("PORT", "8000")
    var_dir = Path(os.environ.get("UPLIFT_VAR_DIR", ROOT / "var"))
    var_dir.mkdir(parents=True, exist_ok=True)

    _manage("migrate", "--no-input", "-v", "0")
    _manage("seed_demo")

    processes = {
        name: subprocess.Popen(command, cwd=ROOT, start_new_session=True)
        for name, command in _children(port, var_dir).items()
    }
    print(
        f"\n  Uplift is running at http://127.0.0.1:{port}/\n"
        "  Demo logins (password uplift-demo): ada (researcher), lin (lead),"
        " ana (analyst), admin\n  Press Ctrl-C to stop.\n",
        flush=True,
    )

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited with code {process.returncode}; stopping.", flush=True)
                exit_code = process.returncode or 1
                stopping = True
                break
        time.sleep(0.3)

    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
