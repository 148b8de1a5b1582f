import os
import sqlite3
import uuid
from contextlib import closing

import psycopg
import pytest

from bench import servers
from tests import processes
from tests.factories import TaskTypeFactory


@pytest.fixture
def client_of(client, plain_http):
    """A test client signed in as the given user, over plain HTTP."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def task_type(db):
    return TaskTypeFactory(name="Experiment code")


class SQLite:
    def __init__(self, var_dir):
        self.var_dir = var_dir

    def migrate(self, *args: str) -> None:
        result = processes.manage_local("migrate", *args, "-v", "0", var_dir=self.var_dir)
        assert result.returncode == 0, result.stderr

    def execute(self, statement: str, params=()) -> list[tuple]:
        with closing(sqlite3.connect(self.var_dir / "uplift.sqlite3")) as database, database:
            return database.execute(statement.replace("%s", "?"), params).fetchall()


class PostgreSQL:
    def __init__(self, url):
        self.url = url

    def migrate(self, *args: str) -> None:
        env = {**os.environ, "DATABASE_URL": self.url, "DEBUG": ""}
        servers.manage("migrate", *args, "-v", "0", env=env)

    def execute(self, statement: str, params=()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """A new, empty database of each kind that a test migrates itself (a separate process)."""
    if request.param == "sqlite":
        yield SQLite(tmp_path)
        return
    name = f"uplift_migrate_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(processes.database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PostgreSQL(processes.database_url(name))
    finally:
        with psycopg.connect(processes.database_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
