"""Bad input is refused in our words; a fault of ours is a logged 500, never its text."""

import base64
import json
import logging

import pytest
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from uplift.api.errors import api_exception_handler
from uplift.worklog import services


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/tasks/?cursor=" + _cursor("p=abc"),
        "/api/v1/tasks/?cursor=" + _cursor("p="),
        "/api/v1/tasks/?cursor=" + _cursor("p=1e5"),
        "/api/v1/tasks/?ordering=created_at&cursor=" + _cursor("p=2020-01-01T00:00:00%2B23:59"),
        "/api/v1/tasks/?ordering=created_at&cursor=" + _cursor("p=yesterday"),
        "/api/v1/teams/?ordering=name&cursor=" + _cursor("p=a%00b"),
        "/api/v1/work-sessions/?cursor=not%20base64!",
    ],
)
def test_an_invalid_cursor_is_refused_in_our_words(world, url):
    response = world.client("admin").get(url)
    assert response.status_code == 400
    assert response.json() == {"cursor": ["Invalid cursor."]}


def test_a_cursor_the_api_handed_out_still_pages(world):
    client = world.client("admin")
    first = client.get("/api/v1/tasks/", {"page_size": 1, "ordering": "created_at"}).json()
    second = client.get(first["next"]).json()
    assert [t["id"] for t in first["results"] + second["results"]] == [
        world.own_task.pk,
        world.other_team_task.pk,
    ]


def test_a_huge_id_is_not_found(world):
    client = world.client("admin")
    huge = "9" * 40
    assert client.get(f"/api/v1/tasks/{huge}/").status_code == 404
    assert client.get(f"/api/v1/work-sessions/?task={huge}").json()["results"] == []


def test_an_unexpected_error_is_a_logged_500_without_its_text(world, monkeypatch, caplog):
    def broken(**kwargs):
        raise ValueError("internal detail of the service")

    monkeypatch.setattr(services, "task_update", broken)
    client = world.client("researcher")
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.patch(
            f"/api/v1/tasks/{world.own_task.pk}/", {"title": "New"}, format="json"
        )
    assert response.status_code == 500
    assert b"internal detail" not in response.content
    assert any("internal detail" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


@pytest.mark.parametrize("token", [b"\xff\xfe\xfd", b"abc\x00def", "é".encode() * 20])
def test_a_bearer_token_that_is_not_ascii_text_is_refused_like_any_bad_token(world, token):
    client = APIClient()
    # As a server receives raw header bytes: WSGI hands them over as latin-1 text.
    response = client.get("/api/v1/tasks/", HTTP_AUTHORIZATION="Bearer " + token.decode("latin-1"))
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"[" * 100_000, "application/json", "Malformed JSON: nested too deeply."),
        (b'{"task": ' + b"[" * 100_000, "application/json", "Malformed JSON: nested too deeply."),
        (b'{"task": "\xff"}', "application/json", "Malformed JSON: the body is not utf-8 text."),
        (b'{"task": NaN}', "application/json", "Malformed JSON: a number is out of range."),
        (b'{"task": 1e400}', "application/json", "Malformed JSON: a number is out of range."),
        (
            b'{"task": ' + b"9" * 5000 + b"}",
            "application/json",
            "Malformed JSON: a number is out of range.",
        ),
    ],
)
def test_unreadable_json_is_a_400_on_every_write(world, body, content_type, message):
    client = world.client("researcher")
    for method, url in [
        ("post", "/api/v1/work-sessions/start/"),
        ("post", "/api/v1/tasks/"),
        ("patch", f"/api/v1/tasks/{world.own_task.pk}/"),
        ("put", f"/api/v1/tasks/{world.own_task.pk}/tool-uses/"),
    ]:
        response = getattr(client, method)(url, body, content_type=content_type)
        assert response.status_code == 400, (method, url)
        assert response.json() == {"detail": message}


def test_a_services_refusal_is_a_400_with_its_messages_by_field_or_under_detail(world):
    client = world.client("researcher")
    task = world.own_task
    # A refusal about fields: each field's messages.
    started = world.session.started_at
    response = client.post(
        "/api/v1/work-sessions/",
        {"task": task.pk, "started_at": started, "ended_at": started},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"ended_at": ["The end must be after the start."]}
    # A refusal about the whole: its messages under "detail", a list as for fields.
    assert client.post(f"/api/v1/tasks/{task.pk}/abandon/", {"reason": "Moot"}).status_code == 200
    response = client.post(f"/api/v1/tasks/{task.pk}/complete/", {}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": ["An abandoned task cannot be completed."]}


@pytest.mark.parametrize(
    ("error", "body"),
    [
        (
            DjangoValidationError({"title": ["Too long.", "Two lines."], "team": "No team."}),
            {"title": ["Too long.", "Two lines."], "team": ["No team."]},
        ),
        (
            DjangoValidationError("At most %(n)s sessions.", params={"n": 3}),
            {"detail": ["At most 3 sessions."]},
        ),
        (
            DjangoValidationError(
                ["First.", DjangoValidationError("%(what)s.", params={"what": "Then"})]
            ),
            {"detail": ["First.", "Then."]},
        ),
        (
            DjangoValidationError({NON_FIELD_ERRORS: "Overlaps.", "ended_at": ["Too late."]}),
            {NON_FIELD_ERRORS: ["Overlaps."], "ended_at": ["Too late."]},
        ),
        (IntegrityError("duplicate key"), {"detail": ["The database refused this change."]}),
    ],
)
def test_django_and_database_errors_answer_in_drfs_shape(error, body):
    response = api_exception_handler(error, {})
    assert response.status_code == 400
    assert json.loads(JSONRenderer().render(response.data)) == body
