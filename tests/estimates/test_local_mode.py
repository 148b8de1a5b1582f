"""Local mode (SQLite, no PostgreSQL) computes the same estimates as production."""

import json
from pathlib import Path

import pytest

from tests.processes import manage_local

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[2]
METR_CSV = ROOT / "tests" / "fixtures" / "metr-early-2025" / "data_complete.csv"


def manage(*args: str, var_dir: Path) -> str:
    result = manage_local(*args, var_dir=var_dir, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_metr_figures_reproduce_on_sqlite(tmp_path):
    manage("migrate", "-v", "0", var_dir=tmp_path)
    manage("import_worklog", "--format", "metr", str(METR_CSV), var_dir=tmp_path)
    manage("compute_estimates", var_dir=tmp_path)
    document = json.loads(manage("show_estimates", "--json", var_dir=tmp_path))
    overall = next(row for row in document["estimates"] if row["dimension"] == "overall")
    assert round(overall["time_change"], 3) == 0.188
    assert [round(v, 3) for v in overall["ci_z"]["cluster"]] == [0.016, 0.390]
    assert (overall["n_ai"], overall["n_no_ai"], overall["n_researchers"]) == (136, 110, 16)
    assert (tmp_path / "uplift.sqlite3").is_file()
