"""The backup procedure in the README: a ``pg_dump`` of a seeded database restores whole.

It runs the documented commands (custom-format dump, restore into an empty database) and
compares everything the product can export from the two databases.
"""

import json
import os
import subprocess
import uuid

import pytest

from bench import servers
from tests import processes

pytestmark = pytest.mark.servers


def run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def manage(database_url: str, *args: str) -> str:
    return servers.manage(*args, env={**os.environ, "DATABASE_URL": database_url, "DEBUG": ""})


def exports(database_url: str) -> dict[str, str]:
    """Everything the product writes out: every row, the worklog CSV and the estimates."""
    return {
        "dumpdata": manage(database_url, "dumpdata", "--indent", "1"),
        "worklog": manage(database_url, "export_worklog"),
        "estimates": manage(database_url, "show_estimates", "--json"),
    }


@pytest.fixture
def databases():
    """Two fresh databases on the test server: the seeded original and the restore target."""
    names = [f"uplift_backup_{role}_{uuid.uuid4().hex[:8]}" for role in ("source", "restored")]
    admin = processes.database_url("postgres")
    for name in names:
        run("psql", admin, "-q", "-c", f'CREATE DATABASE "{name}"')
    yield [processes.database_url(name) for name in names]
    for name in names:
        run("psql", admin, "-q", "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_dump_of_a_seeded_database_restores_with_identical_exports(databases, tmp_path):
    source, restored = databases
    manage(source, "migrate", "--no-input", "-v", "0")
    manage(source, "seed_demo", "--force")
    manage(source, "compute_estimates")
    before = exports(source)

    dump = tmp_path / "uplift.dump"
    run("pg_dump", "--format=custom", "--no-owner", f"--file={dump}", source)
    run("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={restored}", str(dump))
    after = exports(restored)

    assert before["worklog"].count("\n") == 3001  # the header and the demo's 3,000 tasks
    snapshot = json.loads(before["estimates"])
    assert snapshot["snapshot"]["n_tasks"] == 3000
    assert len(snapshot["estimates"]) == 25
    for name, text in before.items():
        assert after[name] == text, f"{name} differs after the restore"

    # The restored database is complete: no migration pending, and its sequences carry on
    # from the dump, so new rows do not collide with restored ones.
    manage(restored, "migrate", "--check", "--no-input")
    sequences = "SELECT sequencename, last_value FROM pg_sequences ORDER BY sequencename"
    assert run("psql", restored, "-Atc", sequences) == run("psql", source, "-Atc", sequences)
    assert "worklog_task_id_seq|3000" in run("psql", restored, "-Atc", sequences).split()
