"""The refresh lock: one estimation run at a time, across every worker and command.

PostgreSQL holds a session advisory lock; elsewhere (local mode on SQLite) an exclusive file
lock. Both are released by the operating system or the server if the process dies mid-run.
"""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

# An arbitrary constant naming this lock among the database's advisory locks.
ADVISORY_LOCK_KEY = 0x75706C6966  # "uplif"


class RefreshBusy(Exception):
    """Another refresh holds the lock; this one should run again shortly."""


@contextmanager
def refresh_lock() -> Iterator[bool]:
    """Yield True while this process holds the lock, False if another holds it (no waiting)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
            acquired = cursor.fetchone()[0]
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
        return
    path = settings.VAR_DIR / "estimates-refresh.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
