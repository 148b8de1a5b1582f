"""Cells that a spreadsheet would run as formulas, neutralised in every CSV the product writes.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
spreadsheets as a formula (``=HYPERLINK(...)``): a title or a team name could then run in a
lead's or analyst's spreadsheet. As OWASP recommends ("CSV injection"), such a cell is written
with a single quote ``'`` in front, which spreadsheets read as "this is text". Numbers such as
``-0.12`` stay as they are: they are numbers, not formulas.

The worklog importer reads a cell back with ``unescape_cell``, so export, import and export
again give the same bytes. So that a value that really starts with quotes survives too, a
quote is also added before a value whose quotes are followed by one of those characters
(``'=x`` is written ``''=x``); reading strips exactly one.

One pattern serves Python's ``re`` and PostgreSQL's regular expressions alike: the export's
``COPY`` applies ``sql_escaped`` and writes the same bytes as ``escape_cell``.
"""

import re

# The characters that start a formula ("-" last: elsewhere in a bracket it makes a range).
FORMULA_START = "=+@\t\r-"
# A number, which spreadsheets read as a number whatever its sign.
_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
# Group 1: the start that needs a quote in front (any quotes, then a formula character), in a
# value that is not a number.
ESCAPE_PATTERN = rf"\A(?!{_NUMBER}\Z)('*[{FORMULA_START}])"
# The one quote ``escape_cell`` added.
_UNESCAPE_PATTERN = rf"\A'(?='*[{FORMULA_START}])"

# The replacement: a quote, then group 1.
_QUOTED_GROUP = r"'\1"

_escape = re.compile(ESCAPE_PATTERN)
_unescape = re.compile(_UNESCAPE_PATTERN)


def escape_cell(value: str) -> str:
    """``value`` as a CSV cell that no spreadsheet runs as a formula."""
    return _escape.sub(_QUOTED_GROUP, value, count=1)


def unescape_cell(value: str) -> str:
    """The value ``escape_cell`` was given, from the cell it wrote."""
    return _unescape.sub("", value, count=1)


def escape_row(row: list[str]) -> list[str]:
    """A row of cells for ``csv.writer``, each escaped."""
    return [escape_cell(cell) for cell in row]


def escape_values(row: dict[str, str]) -> dict[str, str]:
    """A row for ``csv.DictWriter``: text cells escaped, anything else (None) as it is."""
    return {name: escape_cell(v) if isinstance(v, str) else v for name, v in row.items()}


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_escaped(column: str) -> str:
    """``escape_cell`` of a PostgreSQL text column, as SQL.

    The regular expression runs only on values whose first character could need it, tested on
    its code (``ascii``: no substring built, integers compared), so that a value needing no
    quote costs one function call; ``column`` is read twice, so give a column, not an
    expensive expression.
    """
    codes = ", ".join(str(ord(character)) for character in "'" + FORMULA_START)
    pattern, quoted = _sql_text(ESCAPE_PATTERN), _sql_text(_QUOTED_GROUP)
    replaced = f"regexp_replace({column}, {pattern}, {quoted})"
    return f"CASE WHEN ascii({column}) IN ({codes}) THEN {replaced} ELSE {column} END"
