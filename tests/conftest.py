import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest
from django.conf import global_settings
from django.db import transaction

import uplift.settings
from tests.factories import PASSWORD, MembershipFactory, TeamFactory, UserFactory

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
        ],
    }


T = TypeVar("T")


def alignment_team():
    return TeamFactory(name="Alignment")


def researcher_in(team):
    user = UserFactory(username="ada")
    MembershipFactory(user=user, team=team)
    return user


@pytest.fixture
def team(db):
    return alignment_team()


@pytest.fixture
def researcher(team):
    return researcher_in(team)


@contextmanager
def rows_shared_by_the_module(django_db_blocker, build: Callable[[], T]) -> Iterator[T]:
    """Write ``build()``'s rows once for a module's tests, as Django's ``setUpTestData`` does.

    For a module-scoped fixture of a module whose every database test reads these rows, and
    that has no transactional test (``transaction=True``, the live server): the rows are
    written in a transaction that stays open until the module's last test and is then rolled
    back. Each test runs in a savepoint of it (pytest-django's ``db``), so what a test writes
    is still undone after it; the fixture that hands the result to a test should give a deep
    copy (``shared_copy``), so that changing an object in one test leaves the next unchanged.
    """
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            built = build()
        except BaseException:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            raise
    try:
        yield built
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def shared_copy(value: T) -> T:
    """A test's own copy of objects built once for its module (``rows_shared_by_the_module``)."""
    return copy.deepcopy(value)


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def production_password_hashers(settings):
    """Hash passwords as production does (the tests hash them fast: conftest.py)."""
    settings.PASSWORD_HASHERS = getattr(
        uplift.settings, "PASSWORD_HASHERS", global_settings.PASSWORD_HASHERS
    )


@pytest.fixture
def static_served(settings):
    """Serve static files in the live server under their plain names.

    pytest-django's live server serves /static/ through the staticfiles finders, which do not
    know the hashed names the manifest storage puts in pages: without this, no script or
    stylesheet would load. ``make test`` still runs collectstatic with the manifest storage.
    """
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def plain_http(settings, static_served):
    """The live server speaks plain HTTP: let cookies and requests work without TLS."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_SSL_REDIRECT = False
