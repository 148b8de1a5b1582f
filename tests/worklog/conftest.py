import pytest

from tests.factories import TaskTypeFactory


@pytest.fixture
def task_type(db):
    return TaskTypeFactory(name="Experiment code")


@pytest.fixture
def static_served(settings):
    """Plain static names, which the live server serves from the source folders.

    With the production manifest storage, pages ask for hashed names that the live server's
    static handler (which reads the source folders) does not know: the timer's script would 404.
    """
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
