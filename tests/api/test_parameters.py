"""A query parameter an operation does not take is refused, named; those it documents are not."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from uplift.api.parameters import UNKNOWN_PARAMETER, KnownQueryParameters

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = [
    (path, method, operation)
    for path, item in SCHEMA["paths"].items()
    for method, operation in item.items()
]
WITH_QUERY = [
    op for op in OPERATIONS if any(p["in"] == "query" for p in op[2].get("parameters", []))
]
# A valid value for each documented parameter that needs one (any other: its schema's kind).
VALUES = {"format": "csv", "page_size": "5", "ordering": "id", "dimension": "team"}


def _url(path: str, world) -> str:
    ids = {
        "tasks": world.own_task.pk,
        "work-sessions": world.session.pk,
        "tool-uses": world.tool_use.pk,
        "teams": world.alignment.pk,
        "task-types": world.task_type.pk,
        "tools": world.tool.pk,
        "snapshots": world.snapshot.pk,
    }
    if "{id}" not in path:
        return path
    return path.replace("{id}", str(ids[path.split("/")[3]]))


def _unknown_names(response) -> list[str]:
    body = response.json() if response["Content-Type"] == "application/json" else {}
    return [
        name
        for name, messages in body.items()
        if isinstance(messages, list) and any(UNKNOWN_PARAMETER in m for m in messages)
    ]


@pytest.mark.parametrize(
    ("path", "method", "operation"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS]
)
def test_every_operation_refuses_an_unknown_parameter_by_name(world, path, method, operation):
    client = world.client("admin")
    response = getattr(client, method)(f"{_url(path, world)}?tem=3&Team=1")
    assert response.status_code == 400
    assert sorted(_unknown_names(response)) == ["Team", "tem"]


@pytest.mark.parametrize(
    ("path", "method", "operation"), WITH_QUERY, ids=[f"{m} {p}" for p, m, _ in WITH_QUERY]
)
def test_every_documented_parameter_is_taken(world, path, method, operation):
    names = [p["name"] for p in operation["parameters"] if p["in"] == "query"]
    query = {name: VALUES.get(name, "1") for name in names if name != "cursor"}
    response = getattr(world.client("admin"), method)(_url(path, world), query)
    assert _unknown_names(response) == [], names
    assert response.status_code in (200, 400, 404), response.status_code


def test_unknown_parameters_are_refused_after_sign_in_is_checked(world):
    assert world.client("anonymous").get("/api/v1/tasks/?tem=3").status_code == 401


def test_a_misspelt_filter_is_refused_not_ignored(world):
    response = world.client("analyst").get("/api/v1/tasks/", {"tem": world.alignment.pk})
    assert response.status_code == 400
    assert "tem" in response.json()
    assert "team" in response.json()["tem"][0]  # the message lists what the endpoint takes


def _api_views(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _api_views(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "cls", None)
            if view is not None and pattern.lookup_str.startswith("uplift.api."):
                yield view


def test_every_api_view_checks_its_parameters():
    views = set(_api_views(get_resolver().url_patterns))
    assert len(views) >= 9
    assert [view for view in views if not issubclass(view, KnownQueryParameters)] == []
