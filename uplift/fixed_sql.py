"""Reads whose SQL is written once, for the queries the researchers' pages send on every visit.

Django's ORM builds a query's SQL anew on each call: for the header's running timer (a join of
three tables) that was 1.9 ms of CPU against 0.14 ms to send the same SQL, and such fixed reads
run on every page (docs/performance.md, "Reads in SQL written once"). Here the SQL is
written by hand with the columns taken from the models, and the rows become model instances
through the backend's own converters (SQLite returns dates as text, PostgreSQL as datetimes),
so that the result is what the ORM returns, on either database.

Only for small, fixed, hot reads: anything else stays in the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model


class Columns:
    """A model's concrete columns as they appear in a SELECT under ``alias``, and the
    instances their values make (``instance``)."""

    def __init__(self, model: type[Model], alias: str):
        self.model = model
        self.fields = model._meta.concrete_fields
        self.sql = ", ".join(f'{alias}."{field.column}"' for field in self.fields)
        self._attnames = [field.attname for field in self.fields]
        self._cols = [field.get_col(alias) for field in self.fields]
        self._converters: dict[str, list] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def _converters_for(self, connection: BaseDatabaseWrapper) -> list:
        converters = self._converters.get(connection.alias)
        if converters is None:
            converters = []
            for index, col in enumerate(self._cols):
                found = [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]
                if found:
                    converters.append((index, col, found))
            self._converters[connection.alias] = converters
        return converters

    def instance(self, row: Sequence, start: int, connection: BaseDatabaseWrapper) -> Model:
        """The instance of the model read from ``row[start:start + len(self)]``."""
        values = list(row[start : start + len(self.fields)])
        for index, col, converters in self._converters_for(connection):
            for converter in converters:
                values[index] = converter(values[index], col, connection)
        return self.model.from_db(connection.alias, self._attnames, values)


def fetch_one(sql: str, params: Sequence, using: str = "default") -> tuple[tuple | None, Any]:
    """The first row of ``sql`` (None if none) and the connection that read it."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone(), connection


def fetch_all(sql: str, params: Sequence, using: str = "default") -> list[tuple]:
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def select(sql: str, params: Sequence, *columns: Columns, using: str = "default") -> list[list]:
    """Each row of ``sql`` as instances: one per ``columns``, read in that order, followed by
    the row's remaining values (annotations), as they come."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    result = []
    for row in rows:
        start, read = 0, []
        for model_columns in columns:
            read.append(model_columns.instance(row, start, connection))
            start += len(model_columns)
        read.extend(row[start:])
        result.append(read)
    return result


def is_postgresql(using: str = "default") -> bool:
    """Reads whose SQL only PostgreSQL speaks (interval arithmetic) keep the ORM elsewhere."""
    return connections[using].vendor == "postgresql"


# A primary key beyond the column's range matches no row (the ORM's answer); PostgreSQL would
# refuse such a parameter.
BIGINT_RANGE = range(-(2**63), 2**63)
