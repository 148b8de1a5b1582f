"""The import endpoint reads uploads as a stream and answers a bad file with a short report."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.worklog.test_bounds import HEADER, row
from uplift.worklog.models import Task

pytestmark = pytest.mark.django_db
TASKS_OF_THE_WORLD = 2  # the api conftest's world: one task in each team


def post_file(world, content: bytes):
    upload = SimpleUploadedFile("tasks.csv", content, content_type="text/csv")
    return world.client("admin").post("/api/v1/import/", {"file": upload}, format="multipart")


def test_a_large_file_of_bad_rows_gets_the_first_100_problems_and_their_count(world):
    rows = "".join(row(f"T{i}", condition="maybe", title="x" * 100) for i in range(20_000))
    content = (HEADER + rows).encode()
    assert len(content) > 4_000_000  # kept on disk by Django, and read from there row by row
    response = post_file(world, content)
    assert response.status_code == 400
    body = response.json()
    assert body["problem_count"] == 20_000
    assert len(body["problems"]) == 100
    assert body["problems"][0] == {
        "row": 2,
        "column": "condition",
        "message": "must be one of ai, no_ai, not 'maybe'",
    }
    assert body["detail"].endswith("... and 19900 more problems")
    assert len(json.dumps(body)) < 30_000
    assert Task.objects.count() == TASKS_OF_THE_WORLD


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(world, monkeypatch):
    monkeypatch.setattr("uplift.api.views.IMPORT_MAX_BYTES", 2 * 2**20)
    content = (HEADER + row() * 20_000).encode()
    response = post_file(world, content)
    assert response.status_code == 400
    assert response.json() == {"file": ["The file is larger than 2 MiB: split it."]}
    assert Task.objects.count() == TASKS_OF_THE_WORLD


def test_a_file_that_is_not_utf8_names_the_row(world):
    content = (HEADER + row("T1")).encode() + row("T2", title="caf\xe9").encode("latin-1")
    response = post_file(world, content)
    assert response.status_code == 400
    assert response.json()["problems"] == [
        {"row": 3, "column": "-", "message": "is not UTF-8 text: save the file as UTF-8 CSV"}
    ]
    assert Task.objects.count() == TASKS_OF_THE_WORLD
