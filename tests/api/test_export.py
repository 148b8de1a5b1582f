"""The task export: worklog CSV and JSON lines, streamed, filtered, and importable again."""

import csv
import io
import json
import tracemalloc
from datetime import UTC, datetime

import pytest
from django.db import connection
from drf_spectacular.generators import SchemaGenerator

from tests.factories import (
    TaskFactory,
    TaskTypeFactory,
    TeamFactory,
    ToolFactory,
    ToolUseFactory,
    UserFactory,
)
from uplift.accounts.access import Access
from uplift.accounts.models import Team, User
from uplift.accounts.pseudonyms import researcher_pseudonym, task_pseudonym
from uplift.api.export import BLOCK_BYTES, export_csv, export_rows
from uplift.worklog.models import Task, TaskType, Tool, ToolUse, WorkSession
from uplift.worklog.selectors import tool_names_by_task
from uplift.worklog.services import worklog_rows
from uplift.worklog.worklog_csv import COLUMNS, worklog_row, write_worklog

ADMIN = Access(user_id=0, is_admin=True, is_analyst=False, team_ids=frozenset(),
               lead_team_ids=frozenset())  # fmt: skip
ANALYST = Access(user_id=0, is_admin=False, is_analyst=True, team_ids=frozenset(),
                 lead_team_ids=frozenset())  # fmt: skip


@pytest.fixture
def varied_tasks(world):
    """Tasks whose values test every formatting rule: floats, timestamps, quoting, tools."""
    second_tool = ToolFactory(name="copilot")
    cases = [
        {
            "title": 'Commas, "quotes"; semicolons and ünïcode',
            "forecast_no_ai_minutes": 33.333333333333336,
            "allocation_ai": 1 / 3,
        },
        {
            "title": "Ünïcödé — dash",
            "forecast_no_ai_minutes": 0.1,
            "forecast_ai_minutes": 0.3,
            # Self-selected: no allocation.
            "assignment": Task.Assignment.SELF_SELECTED,
            "randomized_at": None,
            "allocation_ai": None,
        },
        # The ends of the accepted range, and floats whose shortest text is long.
        {
            "title": "",
            "forecast_no_ai_minutes": 43200,
            "forecast_ai_minutes": 0.30000000000000004,
            "allocation_ai": 0.8,
        },
        {
            "title": "big",
            "forecast_no_ai_minutes": 12345.678901234567,
            "forecast_ai_minutes": 1e-1,
            # Written with an exponent, by Python and by PostgreSQL alike.
            "allocation_ai": 1e-05,
        },
    ]
    tasks = []
    for i, values in enumerate(cases):
        task = TaskFactory(
            owner=world.users["outsider"] if i % 2 else world.users["researcher"],
            team=world.interpretability if i % 2 else world.alignment,
            task_type=world.task_type,
            **values,
        )
        tasks.append(task)
    done = tasks[0]
    done.status = Task.Status.COMPLETED
    done.actual_minutes = 47.25
    done.perceived_other_minutes = 60
    done.started_at = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)
    done.completed_at = datetime(2025, 3, 1, 10, 2, 3, 4500, tzinfo=UTC)
    done.save()
    ToolUseFactory(task=done, tool=world.tool)
    ToolUseFactory(task=done, tool=second_tool)
    return tasks


def _download(client, query: str) -> bytes:
    response = client.get(f"/api/v1/tasks/export/?{query}")
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content)


def _reference_csv(tasks, access) -> bytes:
    """The worklog app's own writer over ``worklog_rows``: what the export must equal."""
    return "".join(write_worklog(export_rows(tasks=tasks, access=access))).encode()


@pytest.mark.parametrize("access", [ADMIN, ANALYST], ids=["admin", "analyst"])
def test_postgres_export_writes_the_same_bytes_as_the_worklog_writer(varied_tasks, access):
    tasks = Task.objects.all()
    reference = _reference_csv(tasks, access)
    assert b"".join(export_csv(tasks=tasks, access=access)) == reference
    # Every column is compared on a value, not only on empty cells.
    rows = list(csv.DictReader(io.StringIO(reference.decode())))
    assert [name for name in COLUMNS if not any(row[name] for row in rows)] == []


def test_each_exported_row_is_the_one_the_column_specs_define(varied_tasks):
    """The Python path writes ``worklog_row``: each cell as its column's kind writes it."""
    tasks = Task.objects.select_related("owner", "team", "task_type").order_by("id")
    tools = tool_names_by_task(task_ids=[task.pk for task in tasks])
    expected = [
        worklog_row(task, task_id=task.external_id or str(task.pk), tools=tools.get(task.pk, []))
        for task in tasks
    ]
    assert list(worklog_rows(tasks=Task.objects.all())) == expected
    assert [list(row) for row in expected] == [list(COLUMNS)] * len(expected)


def test_csv_export_has_the_worklog_columns_and_values(world, varied_tasks):
    body = _download(world.client("admin"), "format=csv").decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert tuple(rows[0]) == COLUMNS
    done = next(r for r in rows if r["task_id"] == str(varied_tasks[0].pk))
    assert done["researcher"] == "ada@example.org"
    assert done["title"] == 'Commas, "quotes"; semicolons and ünïcode'
    assert done["forecast_no_ai_minutes"] == "33.333333333333336"
    assert done["forecast_ai_minutes"] == "45"
    assert done["actual_minutes"] == "47.25"
    assert done["completed_at"] == "2025-03-01T10:02:03.004500+00:00"
    assert done["started_at"] == "2025-03-01T09:00:00+00:00"
    assert done["tools"] == "claude;copilot"
    assert done["allocation_ai"] == "0.3333333333333333"
    allocations = {row["task_id"]: row["allocation_ai"] for row in rows}
    assert [allocations[str(task.pk)] for task in varied_tasks[1:]] == ["", "0.8", "1e-05"]


def test_analyst_export_pseudonymizes_every_researcher(world, varied_tasks):
    body = _download(world.client("analyst"), "format=csv").decode()
    researchers = {row["researcher"] for row in csv.DictReader(io.StringIO(body))}
    assert researchers == {
        researcher_pseudonym(world.users["researcher"].pk),
        researcher_pseudonym(world.users["outsider"].pk),
    }
    assert "@" not in body


def test_export_takes_the_list_filters(world, varied_tasks):
    body = _download(
        world.client("admin"), f"format=csv&status=completed&team={world.alignment.pk}"
    )
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [row["task_id"] for row in rows] == [str(varied_tasks[0].pk)]


def test_researcher_exports_only_own_tasks(world, varied_tasks):
    body = _download(world.client("researcher"), "format=csv").decode()
    ids = [row["task_id"] for row in csv.DictReader(io.StringIO(body))]
    own = Task.objects.filter(owner=world.users["researcher"]).order_by("id")
    assert ids == [str(pk) for pk in own.values_list("id", flat=True)]


def test_jsonl_export_has_one_typed_object_per_task(world, varied_tasks):
    body = _download(world.client("admin"), "format=jsonl").decode()
    lines = [json.loads(line) for line in body.splitlines()]
    assert len(lines) == Task.objects.count()
    done = next(line for line in lines if line["task_id"] == str(varied_tasks[0].pk))
    assert done["forecast_no_ai_minutes"] == 33.333333333333336
    assert done["perceived_other_minutes"] == 60
    assert done["tools"] == ["claude", "copilot"]
    assert done["completed_at"] == "2025-03-01T10:02:03.004500+00:00"
    assert done["title"] == 'Commas, "quotes"; semicolons and ünïcode'
    planned = next(line for line in lines if line["task_id"] == str(varied_tasks[1].pk))
    assert planned["actual_minutes"] is None and planned["tools"] == []
    assert (done["allocation_ai"], planned["allocation_ai"]) == (1 / 3, None)


def test_unknown_export_format_is_a_field_error(world):
    response = world.client("admin").get("/api/v1/tasks/export/?format=xlsx")
    assert response.status_code == 400
    assert "format" in response.json()


def _empty_database(keep: User) -> None:
    ToolUse.objects.all().delete()
    WorkSession.objects.all().delete()
    Task.objects.all().delete()
    Tool.objects.all().delete()
    TaskType.objects.all().delete()
    User.objects.exclude(pk=keep.pk).delete()
    Team.objects.all().delete()


def test_export_import_export_gives_identical_bytes(world, varied_tasks):
    admin = world.client("admin")
    first = _download(admin, "format=csv")
    _empty_database(keep=world.users["admin"])
    assert Task.objects.count() == 0

    response = admin.post("/api/v1/import/", {"file": io.BytesIO(first)}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json() == {"created": 6, "updated": 0, "unchanged": 0}
    assert _download(admin, "format=csv") == first


def test_import_refuses_a_bad_file_whole_with_row_and_column(world):
    bad = (
        "task_id,researcher,team,task_type,assignment,condition,forecast_no_ai_minutes,"
        "forecast_ai_minutes,status\n"
        "a,new@example.org,Alignment,Debugging,randomized,ai,60,40,planned\n"
        "b,new@example.org,Alignment,Debugging,randomized,maybe,60,-1,planned\n"
    )
    before = Task.objects.count()
    response = world.client("admin").post(
        "/api/v1/import/", {"file": io.BytesIO(bad.encode())}, format="multipart"
    )
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert {(p["row"], p["column"]) for p in problems} == {
        (3, "condition"),
        (3, "forecast_ai_minutes"),
    }
    assert "row 3, column condition" in response.json()["detail"]
    assert Task.objects.count() == before


def test_export_off_postgresql_writes_the_same_data(world, varied_tasks, monkeypatch):
    """SQLite (local mode) takes the worklog writer's path: same CSV, same JSON lines."""
    client = world.client("analyst")
    on_postgres = (_download(client, "format=csv"), _download(client, "format=jsonl"))
    monkeypatch.setattr("uplift.api.export.connection.vendor", "sqlite")
    generic = (_download(client, "format=csv"), _download(client, "format=jsonl"))
    assert generic[0] == on_postgres[0]
    parse = lambda body: [json.loads(line) for line in body.decode().splitlines()]  # noqa: E731
    assert parse(generic[1]) == parse(on_postgres[1])


@pytest.fixture
def named_tasks(world):
    """Imported tasks whose external ids name their researcher, as the demo data's do."""
    return [
        TaskFactory(
            owner=world.users[role],
            team=world.alignment if role == "researcher" else world.interpretability,
            task_type=world.task_type,
            source="worklog",
            external_id=f"demo-{world.users[role].username}-{n:03d}",
        )
        for n, role in enumerate(("researcher", "researcher", "outsider"))
    ]


def _exports(client, monkeypatch) -> dict[str, bytes]:
    """CSV and JSON lines, by PostgreSQL's COPY and by the worklog writer (as on SQLite)."""
    bodies = {f"copy {f}": _download(client, f"format={f}") for f in ("csv", "jsonl")}
    with monkeypatch.context() as patch:
        patch.setattr("uplift.api.export.connection.vendor", "sqlite")
        bodies.update({f"python {f}": _download(client, f"format={f}") for f in ("csv", "jsonl")})
    return bodies


def _task_ids(name: str, body: bytes) -> list[str]:
    if name.endswith("csv"):
        return [row["task_id"] for row in csv.DictReader(io.StringIO(body.decode()))]
    return [json.loads(line)["task_id"] for line in body.decode().splitlines()]


def test_analyst_export_shows_pseudonymous_task_ids_on_both_paths(world, named_tasks, monkeypatch):
    client = world.client("analyst")
    bodies = _exports(client, monkeypatch)
    ids = Task.objects.order_by("id").values_list("id", flat=True)
    expected = [task_pseudonym(pk) for pk in ids]
    assert len(set(expected)) == len(expected) == 5
    assert all(p.startswith("task-") and len(p) == len("task-") + 12 for p in expected)
    for name, body in bodies.items():
        assert _task_ids(name, body) == expected, name
        # No external id, nor the names in them, anywhere in the analyst's file.
        for text in (b"demo-", b"ada", b"otto"):
            assert text not in body.lower(), (name, text)
    # The same task reads the same pseudonym in every download.
    assert _exports(client, monkeypatch) == bodies


def test_admin_and_lead_export_show_the_real_task_ids(world, named_tasks, monkeypatch):
    for role in ("admin", "lead"):
        visible = named_tasks if role == "admin" else named_tasks[:2]
        for name, body in _exports(world.client(role), monkeypatch).items():
            ids = _task_ids(name, body)
            assert [t.external_id for t in visible] == [i for i in ids if i.startswith("demo-")]
            assert "demo-ada-000" in ids, (role, name)


def test_analyst_reads_the_task_pseudonym_in_the_task_list_and_detail(world, named_tasks):
    client = world.client("analyst")
    task = named_tasks[0]
    detail = client.get(f"/api/v1/tasks/{task.pk}/")
    assert detail.json()["external_id"] == task_pseudonym(task.pk)
    listed = client.get("/api/v1/tasks/?page_size=100")
    by_id = {row["id"]: row["external_id"] for row in listed.json()["results"]}
    assert by_id == {pk: task_pseudonym(pk) for pk in Task.objects.values_list("id", flat=True)}
    for body in (detail.content, listed.content):
        assert b"demo-" not in body and b"ada" not in body.lower()
    # The export's task_id: an analysis joins the API's rows with the file on it.
    exported = _task_ids("csv", _download(client, "format=csv"))
    assert task_pseudonym(task.pk) in exported


def test_admin_and_lead_read_the_real_external_id(world, named_tasks):
    task = named_tasks[0]
    for role in ("admin", "lead", "researcher"):
        response = world.client(role).get(f"/api/v1/tasks/{task.pk}/")
        assert response.json()["external_id"] == "demo-ada-000", role


@pytest.fixture
def formula_tasks(world):
    """Names and titles a spreadsheet would run as formulas, and numbers that are not."""
    task = TaskFactory(
        owner=UserFactory(username="=evil"),
        team=TeamFactory(name="@SUM(1)"),
        task_type=TaskTypeFactory(name="+cmd|' /C calc'!A0"),
        title='=HYPERLINK("http://x","y")',
        source="worklog",
        external_id="-2+3",
    )
    ToolUseFactory(task=task, tool=ToolFactory(name="-Tool()"))
    ToolUseFactory(task=task, tool=world.tool)
    quoted = TaskFactory(
        owner=world.users["researcher"],
        team=world.alignment,
        task_type=world.task_type,
        title="'=already quoted",
        source="worklog",
        external_id="-5",
    )
    return task, quoted


FORMULA_CELLS = {
    "task_id": "'-2+3",
    "researcher": "'=evil@example.org",
    "team": "'@SUM(1)",
    "task_type": "'+cmd|' /C calc'!A0",
    "title": '\'=HYPERLINK("http://x","y")',
    "tools": "'-Tool();claude",
}


def _csv_rows(body: bytes) -> dict[str, dict[str, str]]:
    return {row["title"]: row for row in csv.DictReader(io.StringIO(body.decode()))}


def test_csv_export_neutralises_formulas_on_both_paths(world, formula_tasks, monkeypatch):
    bodies = _exports(world.client("admin"), monkeypatch)
    assert bodies["copy csv"] == bodies["python csv"]
    rows = _csv_rows(bodies["copy csv"])
    row = rows[FORMULA_CELLS["title"]]
    assert {name: row[name] for name in FORMULA_CELLS} == FORMULA_CELLS
    # A value that starts with quotes gains one; a number stays a number.
    assert rows["''=already quoted"]["task_id"] == "-5"
    # No cell of the file starts with a formula character.
    for cells in csv.reader(io.StringIO(bodies["copy csv"].decode())):
        assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")], cells
    # JSON lines are no spreadsheet: the values as they are, on both paths.
    for name in ("copy jsonl", "python jsonl"):
        line = next(
            json.loads(text)
            for text in bodies[name].decode().splitlines()
            if json.loads(text)["task_id"] == "-2+3"
        )
        assert (line["title"], line["team"]) == ('=HYPERLINK("http://x","y")', "@SUM(1)"), name
        assert line["tools"] == ["-Tool()", "claude"], name


def test_analyst_csv_export_neutralises_formulas_on_both_paths(world, formula_tasks, monkeypatch):
    bodies = _exports(world.client("analyst"), monkeypatch)
    assert bodies["copy csv"] == bodies["python csv"]
    row = _csv_rows(bodies["copy csv"])[FORMULA_CELLS["title"]]
    assert (row["team"], row["task_type"]) == (FORMULA_CELLS["team"], FORMULA_CELLS["task_type"])
    assert row["tools"] == FORMULA_CELLS["tools"]


def test_export_import_export_is_identical_with_formula_cells(world, formula_tasks):
    admin = world.client("admin")
    first = _download(admin, "format=csv")
    assert b"'=HYPERLINK" in first
    _empty_database(keep=world.users["admin"])
    response = admin.post("/api/v1/import/", {"file": io.BytesIO(first)}, format="multipart")
    assert response.status_code == 200, response.content
    imported = Task.objects.get(external_id="-2+3")
    assert imported.title == '=HYPERLINK("http://x","y")'
    assert imported.team.name == "@SUM(1)"
    assert Task.objects.get(external_id="-5").title == "'=already quoted"
    assert _download(admin, "format=csv") == first


def _export_media_types_in_the_schema() -> list[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return list(schema["paths"]["/api/v1/tasks/export/"]["get"]["responses"]["200"]["content"])


def test_schema_lists_the_export_media_types():
    assert _export_media_types_in_the_schema() == ["text/csv", "application/x-ndjson"]


@pytest.mark.parametrize("media_type", _export_media_types_in_the_schema())
def test_export_answers_each_media_type_of_its_schema_as_accept(world, varied_tasks, media_type):
    # What Swagger UI's "Try it out" and the curl line it prints send.
    response = world.client("analyst").get("/api/v1/tasks/export/", HTTP_ACCEPT=media_type)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].split(";")[0] == media_type
    body = b"".join(response.streaming_content).decode()
    if media_type == "text/csv":
        assert next(csv.reader(io.StringIO(body))) == list(COLUMNS)
    else:
        assert len([json.loads(line) for line in body.splitlines()]) == Task.objects.count()


@pytest.mark.parametrize(
    ("accept", "query", "expected"),
    [
        ("text/csv", "format=csv", "text/csv"),
        ("*/*", "", "text/csv"),
        ("application/json", "", "text/csv"),
        ("application/x-ndjson", "", "application/x-ndjson"),
        # The parameter, when given, chooses.
        ("text/csv", "format=jsonl", "application/x-ndjson"),
    ],
)
def test_export_format_comes_from_the_parameter_else_the_accept_header(
    world, accept, query, expected
):
    response = world.client("admin").get(f"/api/v1/tasks/export/?{query}", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == expected


def test_export_errors_are_json_whatever_the_accept_header(world):
    response = world.client("analyst").get(
        "/api/v1/tasks/export/?format=xlsx", HTTP_ACCEPT="text/csv"
    )
    assert (response.status_code, response["Content-Type"]) == (400, "application/json")
    assert "format" in response.json()
    response = world.client("anonymous").get("/api/v1/tasks/export/", HTTP_ACCEPT="text/csv")
    assert (response.status_code, response["Content-Type"]) == (401, "application/json")
    response = world.client("analyst").get("/api/v1/tasks/export/", HTTP_ACCEPT="image/png")
    assert (response.status_code, response["Content-Type"]) == (406, "application/json")


# --- Streaming: bounded blocks, bounded memory -----------------------------------------------


def _copies_sql(model) -> str:
    """An INSERT of copies of one row of ``model`` (parameters: how many, the row's id)."""
    columns = ", ".join(f.column for f in model._meta.concrete_fields if f.column != "id")
    table = model._meta.db_table
    return (
        f"INSERT INTO {table} ({columns}) SELECT {columns} "
        f"FROM {table}, generate_series(1, %s) WHERE id = %s"
    )


@pytest.fixture
def many_tasks(world):
    """100,000 tasks, copied in SQL from one with a title to quote, every other with tools."""
    task = TaskFactory(
        owner=world.users["researcher"],
        team=world.alignment,
        task_type=world.task_type,
        title='A title, "quoted", and long enough to be a realistic row' * 2,
    )
    use = ToolUseFactory(task=task, tool=world.tool)
    columns = ", ".join(
        f.column for f in ToolUse._meta.concrete_fields if f.column not in ("id", "task_id")
    )
    with connection.cursor() as cursor:
        cursor.execute(_copies_sql(Task), [MANY - 1, task.pk])
        cursor.execute(
            f"INSERT INTO worklog_tooluse (task_id, {columns}) SELECT t.id, {columns} "
            "FROM worklog_tooluse, worklog_task t WHERE worklog_tooluse.id = %s "
            "AND t.id %% 2 = 0 AND t.id <> %s",
            [use.pk, task.pk],
        )
    return MANY


MANY = 100_000


@pytest.mark.parametrize("access", [ADMIN, ANALYST], ids=["admin", "analyst"])
def test_export_streams_bounded_blocks_in_bounded_memory(many_tasks, access):
    tracemalloc.start()
    try:
        sizes, lines = [], 0
        for block in export_csv(tasks=Task.objects.all(), access=access):
            sizes.append(len(block))
            lines += block.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == Task.objects.count() + 1 > many_tasks  # the header, each task
    total = sum(sizes)
    assert total > 15_000_000  # 100,000 rows of about 200 bytes
    # Blocks of about BLOCK_BYTES each (the last one shorter): never the export whole.
    assert all(BLOCK_BYTES <= size < BLOCK_BYTES + 4096 for size in sizes[:-1]), sizes
    assert 0 < sizes[-1] < BLOCK_BYTES + 4096
    # Python's allocations at their peak: a few blocks, not the 15 MB or more of the export.
    assert peak < 4 * BLOCK_BYTES, peak


def test_export_response_streams_the_blocks(world, many_tasks):
    response = world.client("admin").get("/api/v1/tasks/export/?format=csv")
    assert response.status_code == 200
    assert response.streaming
    sizes = [len(block) for block in response.streaming_content]
    assert sum(sizes) > 15_000_000
    assert max(sizes) < BLOCK_BYTES + 4096, max(sizes)
