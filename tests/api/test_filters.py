"""Teams, task types and tools filter by id or by name, whatever its case."""

import pytest

from tests.factories import TaskFactory, ToolFactory, ToolUseFactory

# (endpoint, parameter, the world's row it names)
FILTERS = [
    ("/api/v1/tasks/", "team", "alignment"),
    ("/api/v1/tasks/", "task_type", "task_type"),
    ("/api/v1/tasks/export/", "team", "alignment"),
    ("/api/v1/tasks/export/", "task_type", "task_type"),
    ("/api/v1/tool-uses/", "tool", "tool"),
]
NOUNS = {"team": "team", "task_type": "task type", "tool": "tool"}


@pytest.fixture
def more_rows(world):
    """Rows the filters must leave out: another task type's task and another tool's use."""
    other = TaskFactory(owner=world.users["outsider"], team=world.interpretability)
    ToolUseFactory(task=other, tool=ToolFactory(name="copilot"))
    return other


def _rows(response) -> list:
    assert response.status_code == 200, response.content
    if response.streaming:
        return b"".join(response.streaming_content).decode().splitlines()
    return response.json()["results"]


@pytest.mark.parametrize(("endpoint", "parameter", "row"), FILTERS)
def test_a_filter_by_name_gives_the_rows_of_the_filter_by_id(
    world, more_rows, endpoint, parameter, row
):
    target = getattr(world, row)
    client = world.client("analyst")
    by_id = _rows(client.get(endpoint, {parameter: target.pk}))
    everything = _rows(client.get(endpoint))
    assert 0 < len(by_id) < len(everything)
    for name in (target.name, target.name.upper(), f" {target.name.lower()} "):
        assert _rows(client.get(endpoint, {parameter: name})) == by_id, name


def test_names_and_ids_mix_in_one_filter(world, more_rows):
    client = world.client("admin")
    both = _rows(client.get("/api/v1/tasks/", {"team": [world.alignment.pk, "interpretability"]}))
    assert len(both) == len(_rows(client.get("/api/v1/tasks/")))


@pytest.mark.parametrize(("endpoint", "parameter", "row"), FILTERS)
def test_an_unknown_name_is_refused_naming_the_parameter_and_the_value(
    world, endpoint, parameter, row
):
    response = world.client("analyst").get(endpoint, {parameter: "Alignmnet"})
    assert response.status_code == 400
    assert response.json() == {parameter: [f"No {NOUNS[parameter]} named “Alignmnet”."]}


def test_a_team_name_the_user_may_not_read_reads_as_unknown(world):
    # A researcher may not list other teams: their names are not confirmed either.
    response = world.client("researcher").get("/api/v1/tasks/", {"team": "Interpretability"})
    assert response.status_code == 400
    assert response.json() == {"team": ["No team named “Interpretability”."]}
    response = world.client("researcher").get("/api/v1/tasks/", {"team": "alignment"})
    assert [task["id"] for task in response.json()["results"]] == [world.own_task.pk]


def test_an_unknown_id_is_refused_as_before(world):
    response = world.client("analyst").get("/api/v1/tasks/", {"team": 10**9})
    assert response.status_code == 400 and list(response.json()) == ["team"]


def test_a_name_with_a_null_character_is_refused(world):
    response = world.client("analyst").get("/api/v1/tasks/", {"team": "Align\x00ment"})
    assert response.status_code == 400 and list(response.json()) == ["team"]
