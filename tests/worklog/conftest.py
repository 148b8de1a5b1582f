import pytest

from tests.factories import TaskTypeFactory


@pytest.fixture
def task_type(db):
    return TaskTypeFactory(name="Experiment code")
