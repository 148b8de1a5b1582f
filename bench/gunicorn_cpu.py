"""gunicorn hooks for bench/load.py: each request's CPU time, by the kind the client names.

Passed as ``--config`` by the benchmark only (never in production). The sync worker serves one
request at a time, so the process's CPU time between ``pre_request`` and ``post_request`` is
that request's: Django, the view, the templates and writing the response (not the parsing of
the request line and headers, which comes before). Each worker appends ``kind<TAB>ms`` lines to
a file of its own in ``$BENCH_CPU_LOG_DIR``; the client names the kind in ``X-Bench-Kind``.
"""

import os
import time

_started = 0.0
_log = None


def pre_request(worker, req) -> None:
    global _started
    _started = time.process_time()


def post_request(worker, req, environ, resp) -> None:
    global _log
    spent = time.process_time() - _started
    if _log is None:
        path = os.path.join(os.environ["BENCH_CPU_LOG_DIR"], f"cpu-{os.getpid()}.tsv")
        _log = open(path, "a", buffering=1)  # noqa: SIM115 (open for the worker's life)
    kind = environ.get("HTTP_X_BENCH_KIND", "-")
    _log.write(f"{kind}\t{spent * 1000:.3f}\n")
