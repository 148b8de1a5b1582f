import pytest

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


@pytest.fixture
def team(db):
    return TeamFactory(name="Alignment")


@pytest.fixture
def researcher(team):
    user = UserFactory(username="ada")
    MembershipFactory(user=user, team=team)
    return user


@pytest.fixture
def password():
    return PASSWORD


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
