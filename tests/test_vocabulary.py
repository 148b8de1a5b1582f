"""One vocabulary and one date style wherever people read the product.

- Templates show dates and times through the filters of uplift/dates.py (``local_date``,
  ``local_datetime``, ...), never an ad-hoc ``|date:"..."`` or ``|time:"..."``. Only machine
  formats (ISO 8601: ``c`` and ``Y-m-d``) may appear, and only inside a tag: a ``<time
  datetime>`` attribute or a date in a link.
- The condition is "AI allowed" or "No AI" (``Task.Condition``'s labels) in templates and in the
  strings of the Python code; spellings such as "AI-allowed", "no-AI" or "AI not allowed" are
  refused. Code names (``ai_allowed``, ``no_ai``) and docstrings are not read. No database.
"""

import ast
import re
from pathlib import Path

import pytest

from uplift.worklog.models import Task

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
PYTHON = sorted(path for path in (ROOT / "uplift").rglob("*.py") if "migrations" not in path.parts)

DATE_FILTER = re.compile(r"\|\s*(date|time)\s*:\s*(['\"])(?P<format>.*?)\2")
MACHINE_FORMATS = {"c", "Y-m-d"}
# Ad-hoc formats in templates another change is editing now; each must still be there (remove
# it from here when it goes).
# The condition's names as people read them, and the spellings that are not them.
FORBIDDEN = re.compile(
    r"\bAI[- ]allowed\b(?<!AI allowed)"  # "AI-allowed"
    r"|\bai[- ]allowed\b"  # "ai allowed", "ai-allowed"
    r"|\bAI[- ]Allowed\b"
    r"|\bno-ai\b|\bno-AI\b|\bNo-AI\b|\bNo-Ai\b|\bNo Ai\b"
    r"|\bno AI\b"  # a condition's name takes its capital: "a No AI task"
    r"|\bAI[- ]not[- ]allowed\b|\bAI[- ]disallowed\b|\bnon-AI\b",
)


def _inside_a_tag(text: str, position: int) -> bool:
    before = text[:position]
    return before.rfind("<") > before.rfind(">")


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def _date_formats(path: Path) -> list[tuple[str, str]]:
    """(where, the filter) for every format string that is not a machine format in a tag."""
    text = path.read_text()
    found = []
    for match in DATE_FILTER.finditer(text):
        if match["format"] in MACHINE_FORMATS and _inside_a_tag(text, match.start()):
            continue
        line = text[: match.start()].count("\n") + 1
        start = text.rfind("{{", 0, match.start()) + 2
        found.append((f"{_name(path)}:{line}", text[start : match.end()].strip()))
    return found


def test_templates_format_dates_only_through_the_shared_filters():
    found = [problem for path in TEMPLATES for problem in _date_formats(path)]
    assert found == [], [f"{w}: {e}" for w, e in found]


@pytest.mark.parametrize(
    ("template", "found"),
    [
        ('<td>{{ s.started_at|date:"j M H:i" }}</td>', ['s.started_at|date:"j M H:i"']),
        ("<td>{{ day|time:'H:i' }}</td>", ["day|time:'H:i'"]),
        # A machine format shown as text is a format for people all the same.
        ('<td>{{ task.completed_at|date:"Y-m-d" }}</td>', ['task.completed_at|date:"Y-m-d"']),
        ("<time datetime=\"{{ t|date:'c' }}\">{{ t|local_datetime }}</time>", []),
        ("<a href=\"?week={{ w|date:'Y-m-d' }}\">Next week</a>", []),
    ],
)
def test_the_date_format_check_tells_formats_for_people_from_machine_ones(
    tmp_path, template, found
):
    path = tmp_path / "check.html"
    path.write_text(template)
    assert [expression for _, expression in _date_formats(path)] == found


def _strings(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a module but its docstrings, with its line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def _misspelt(text: str) -> list[str]:
    return [match.group() for match in FORBIDDEN.finditer(text)]


def test_the_condition_labels_are_the_vocabulary():
    assert Task.Condition.AI.label == "AI allowed"
    assert Task.Condition.NO_AI.label == "No AI"
    assert not _misspelt(f"{Task.Condition.AI.label} {Task.Condition.NO_AI.label}")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Completed AI-allowed tasks", ["AI-allowed"]),
        ("12 AI allowed, 3 no AI", ["no AI"]),
        ("Share of No-AI tasks", ["No-AI"]),
        ("the no-AI forecast", ["no-AI"]),
        ("tasks where AI not allowed", ["AI not allowed"]),
        ("condition=ai allowed", ["ai allowed"]),
        ("On a No AI task, AI allowed tasks, forecast without AI", []),
        ("ai_allowed no_ai forecast_no_ai_minutes condition-no_ai", []),
    ],
)
def test_the_spelling_check_finds_other_names_of_the_conditions(text, found):
    assert _misspelt(text) == found


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_name_the_conditions_in_the_vocabulary(path):
    assert _misspelt(path.read_text()) == []


def test_python_strings_name_the_conditions_in_the_vocabulary():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {word}"
        for path in PYTHON
        for line, text in _strings(path)
        for word in _misspelt(text)
    ]
    assert found == []
