"""Test-wide configuration: real PostgreSQL, production-like settings, Chromium for pages.

The environment the tests run in (the test services, DEBUG off, a secret key) is in
``[tool.pytest_env]`` of pyproject.toml, as defaults that the environment overrides: a plain
``pytest`` works, and ``make test`` and CI pass their own values. Settings are the production
module's; what differs for tests is here, in-process only: the processes the tests start
(manage.py, gunicorn, Celery) run the production settings as deployed.
"""

import os
import re

from django.conf import settings
from django.test.utils import override_settings

# Playwright's sync API runs an event loop in the test thread; the ORM calls made by the test
# itself (fixtures, assertions) are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# A sign-in costs a full PBKDF2 (a deliberate fraction of a second); tests sign in hundreds of
# times. Tests of the hashing itself ask for the production hashers (tests/conftest.py).
FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_configure(config):
    override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS).enable()
    worker = getattr(config, "workerinput", None)
    if worker is None:
        _collect_static_if_stale()
    else:
        _own_redis_database(int(worker["workerid"].removeprefix("gw")))


def _collect_static_if_stale() -> None:
    """Collect static files once per run, if any is newer than the collected manifest.

    Pages name their scripts and stylesheets through the manifest (DEBUG off), and the servers
    the tests start serve them from STATIC_ROOT. Under pytest-xdist only the controller collects,
    before the workers start.
    """
    from django.contrib.staticfiles.finders import get_finders
    from django.core.management import call_command

    manifest = settings.STATIC_ROOT / "staticfiles.json"
    if manifest.exists():
        collected = manifest.stat().st_mtime
        if not any(
            os.path.getmtime(storage.path(path)) > collected
            for finder in get_finders()
            for path, storage in finder.list([])
        ):
            return
    call_command("collectstatic", interactive=False, verbosity=0)


def _own_redis_database(worker: int) -> None:
    """Give each pytest-xdist worker but the first its own Redis database.

    Tests empty the broker's database and count the messages in it; two workers on one database
    would see each other's. Worker N takes the configured database number minus N (modulo 16),
    in this process and in the processes it starts.
    """
    if worker == 0:
        return
    url = settings.CELERY_BROKER_URL
    match = re.fullmatch(r"(redis://[^/]+)(?:/(\d*))?", url)
    if match is None:
        return
    database = (int(match.group(2) or 0) - worker) % 16
    own = f"{match.group(1)}/{database}"
    os.environ["CELERY_BROKER_URL"] = own
    override_settings(CELERY_BROKER_URL=own).enable()
