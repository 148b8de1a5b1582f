"""Formula cells neutralised in every CSV: the escape, its reverse, and its SQL twin."""

import pytest
from django.db import connection

from uplift.spreadsheet import escape_cell, escape_row, escape_values, sql_escaped, unescape_cell

# Value -> the cell written for it.
CELLS = {
    '=HYPERLINK("http://x","y")': '\'=HYPERLINK("http://x","y")',
    "@SUM(1)": "'@SUM(1)",
    "+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0",
    "-2+3+cmd": "'-2+3+cmd",
    "\tindented": "'\tindented",
    "\rreturn": "'\rreturn",
    "-": "'-",
    "+": "'+",
    # Numbers stay numbers, whatever their sign.
    "-0.12": "-0.12",
    "+18.8": "+18.8",
    "-5": "-5",
    "-.5e-3": "-.5e-3",
    "12": "12",
    # Not numbers, though close: neutralised.
    "-inf": "'-inf",
    "-1_000": "'-1_000",
    "-5x": "'-5x",
    "-٣": "'-٣",  # an Arabic-Indic digit: a number to Python, not to a spreadsheet
    # Quotes before a formula character gain one, so that reading back strips exactly one.
    "'=x": "''=x",
    "''@x": "'''@x",
    "'-5": "''-5",
    # Nothing to neutralise.
    "'quoted": "'quoted",
    "Sweep = fast": "Sweep = fast",
    " =x": " =x",
    "": "",
    "ada@example.org": "ada@example.org",
    "task-0123456789ab": "task-0123456789ab",
}


@pytest.mark.parametrize("value", list(CELLS))
def test_a_formula_cell_gets_one_quote_and_reads_back_as_it_was(value):
    assert escape_cell(value) == CELLS[value]
    assert unescape_cell(escape_cell(value)) == value


def test_reading_strips_only_the_quote_a_writer_adds():
    assert unescape_cell("'=x") == "=x"
    assert unescape_cell("'quoted") == "'quoted"
    assert unescape_cell("''=x") == "'=x"
    assert unescape_cell("=x") == "=x"  # a hand-made file's formula is its text


def test_rows_escape_text_and_leave_other_values():
    assert escape_row(["=a", "-1.5", "b"]) == ["'=a", "-1.5", "b"]
    assert escape_values({"title": "@x", "tools": None}) == {"title": "'@x", "tools": None}


@pytest.mark.django_db
def test_postgresql_escapes_every_value_as_python_does():
    values = list(CELLS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {sql_escaped('v')} FROM unnest(%s::text[]) WITH ORDINALITY AS u(v, n) "
            "ORDER BY n",
            [values],
        )
        escaped = [row[0] for row in cursor.fetchall()]
    assert escaped == [CELLS[value] for value in values]
