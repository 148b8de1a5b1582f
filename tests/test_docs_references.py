"""The documentation the code points to exists, and the worklog CSV's page matches the code.

A reference is ``docs/`` followed by a path, anywhere in the code, the templates, the tests, the
benchmarks, the scripts, the docs, the README, the Makefile and the Docker files: that file must
exist, relative to the repository's root. A section named right after it (``docs/<page>#slug``
or ``docs/<page>, "Heading"``) must be a heading of that file, and every relative link of the
Markdown pages must reach a file (and a heading, with ``#``). URL paths such as
``/api/v1/docs/`` are not references. No database is used.
"""

import csv
import io
import re
from pathlib import Path

import pytest

from uplift.worklog import metr
from uplift.worklog.worklog_csv import (
    ASSIGNMENTS,
    COLUMN_SPECS,
    COLUMNS,
    CONDITIONS,
    REQUIRED_COLUMNS,
    STATUSES,
    read_worklog,
    write_worklog,
)

ROOT = Path(__file__).resolve().parent.parent
SCANNED = (
    "uplift",
    "templates",
    "tests",
    "bench",
    "scripts",
    "docs",
    "README.md",
    "Makefile",
    "Dockerfile",
    "docker-compose.yml",
)
WORKLOG_CSV_PAGE = ROOT / "docs" / "worklog-csv.md"

# "docs/" starting a path (not the end of a longer path or URL such as /api/v1/docs/), then
# the path (none: "docs/" alone is a URL prefix), an optional #anchor, and an optional section
# named in quotes right after it: `docs/product.md, "Who may see what"`.
REFERENCE = re.compile(
    r"(?<![\w/.{}-])docs/(?P<path>[\w.-]+(?:/[\w.-]+)*)"
    r"(?:#(?P<anchor>[\w-]+))?"
    r"(?:,? \(?[\"“](?P<section>[^\"”\n]+)[\"”])?"
)
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def _text_files() -> list[Path]:
    files = []
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [
                p for p in sorted(path.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
            ]
    return files


def headings(page: Path) -> list[str]:
    """The headings of a Markdown page, outside code blocks."""
    found, fenced = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6} +(.+?) *#*$", line)):
            found.append(match.group(1))
    return found


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.lower())
    return text.replace(" ", "-")


def _section_problem(page: Path, *, anchor: str | None, section: str | None) -> str | None:
    if page.suffix != ".md" or not (anchor or section):
        return None
    names = headings(page)
    if anchor and anchor not in {slug(name) for name in names}:
        return f"has no heading with the anchor #{anchor}"
    if section and section not in names:
        return f'has no heading "{section}"'
    return None


def reference_problems(text: str, where: str) -> list[str]:
    """Each docs/ reference in ``text`` whose file, or section, is not in the repository."""
    problems = []
    for match in REFERENCE.finditer(text):
        path = match.group("path").rstrip(".-")
        if not path:
            continue
        line = text.count("\n", 0, match.start()) + 1
        target = ROOT / "docs" / path
        if not target.is_file():
            problems.append(f"{where}:{line}: docs/{path} does not exist")
            continue
        problem = _section_problem(
            target, anchor=match.group("anchor"), section=match.group("section")
        )
        if problem:
            problems.append(f"{where}:{line}: docs/{path} {problem}")
    return problems


def link_problems(page: Path) -> list[str]:
    """Each relative link of a Markdown page that reaches no file, or no heading."""
    problems = []
    where = page.relative_to(ROOT)
    for match in MARKDOWN_LINK.finditer(page.read_text(encoding="utf-8")):
        target = match.group("target")
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            problems.append(f"{where}: link {target} reaches no file")
            continue
        problem = linked.is_file() and _section_problem(linked, anchor=anchor, section=None)
        if problem:
            problems.append(f"{where}: link {target}: {linked.name} {problem}")
    return problems


def test_every_docs_path_named_in_the_repository_exists():
    problems, named = [], set()
    for path in _text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        where = str(path.relative_to(ROOT))
        problems += reference_problems(text, where)
        named |= {(where, m.group("path").rstrip(".-")) for m in REFERENCE.finditer(text)}
    assert problems == []
    # The scan reads what it should: the contract's pages, named where the rules live.
    assert ("uplift/accounts/access.py", "product.md") in named
    assert ("uplift/worklog/worklog_csv.py", "worklog-csv.md") in named
    assert ("uplift/api/views.py", "worklog-csv.md") in named
    assert ("uplift/estimates/stats.py", "estimation.md") in named


def test_the_check_refuses_a_missing_page_or_section_and_ignores_url_paths():
    # Spelled in pieces: written whole, these would be references of this file.
    missing, page = "docs/" + "nowhere.md", "docs/" + "product.md"
    assert reference_problems(f"See {missing}.\n", "x.py") == [f"x.py:1: {missing} does not exist"]
    assert reference_problems(f'\n({page}, "Who sees everything")', "x.py") == [
        f'x.py:2: {page} has no heading "Who sees everything"'
    ]
    assert reference_problems(f"{page}#nobody", "x.py") == [
        f"x.py:1: {page} has no heading with the anchor #nobody"
    ]
    fine = (
        'docs/product.md, "Who may see what"; docs/worklog-csv.md#limits; docs/estimation.md. '
        'f"{api}/docs/" "/api/v1/docs/" path("docs/", view)'
    )
    assert reference_problems(fine, "x.py") == []


def test_every_relative_link_of_the_markdown_pages_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) >= 5
    assert [problem for page in pages for problem in link_problems(page)] == []


# --- docs/worklog-csv.md against the importer and the export ------------------------------------


def _section(page: str, heading: str) -> str:
    """The text of a ``##`` section, up to the next ``##`` heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", page, re.M | re.S)
    assert match, f"no section {heading!r}"
    return match.group(1)


def _column_table() -> list[list[str]]:
    """The rows of the column table (column, required, type, accepted values), as cells."""
    rows = []
    for line in _section(WORKLOG_CSV_PAGE.read_text(encoding="utf-8"), "Columns").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `"):
            rows.append(cells)
        elif rows:
            break  # the first table ends: the next one is another table
    return rows


def test_the_column_table_lists_the_columns_the_importer_reads_and_the_export_writes():
    table = _column_table()
    names = [row[0].strip("`") for row in table]
    assert names == list(COLUMNS)
    exported_header = next(csv.reader(io.StringIO("".join(write_worklog([])))))
    assert names == exported_header
    assert {row[0].strip("`") for row in table if row[1] == "yes"} == set(REQUIRED_COLUMNS)


def test_the_column_table_gives_each_column_as_the_code_defines_it():
    """Name, order, required or not and type: each row of the table is its ``Column``."""
    table = _column_table()
    assert [row[0].strip("`") for row in table] == [column.name for column in COLUMN_SPECS]
    for row, column in zip(table, COLUMN_SPECS, strict=True):
        assert (row[1] == "yes") == column.required, column.name
        assert row[2].startswith(column.kind.docs), (column.name, row[2])
        if column.max_length:
            assert f"at most {column.max_length} characters" in row[2] or (
                f"1 to {column.max_length} characters" in row[2]
            ), column.name


@pytest.mark.parametrize(
    ("column", "values"),
    [("assignment", ASSIGNMENTS), ("condition", CONDITIONS), ("status", STATUSES)],
)
def test_the_column_table_gives_each_vocabulary_whole(column, values):
    row = next(row for row in _column_table() if row[0] == f"`{column}`")
    assert set(re.findall(r"`(\w+)`", row[3])) >= set(values)


def test_the_examples_import_and_the_full_one_has_the_export_header():
    page = WORKLOG_CSV_PAGE.read_text(encoding="utf-8")
    examples = re.findall(r"^```csv\n(.*?)^```", page, re.M | re.S)
    assert len(examples) == 2
    assert examples[0].splitlines()[0] == ",".join(COLUMNS)
    records = [read_worklog(io.StringIO(example)) for example in examples]
    assert [len(r) for r in records] == [len(example.splitlines()) - 1 for example in examples]
    assert {r.status for r in records[0]} == set(STATUSES)


def test_the_metr_section_names_every_column_metr_requires():
    section = _section(WORKLOG_CSV_PAGE.read_text(encoding="utf-8"), "METR's format")
    assert set(metr.COLUMNS) <= set(re.findall(r"`(\w+)`", section))
    assert f"`{metr.SOURCE}`" in section
