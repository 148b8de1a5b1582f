"""Imported designs that were not 50/50: the sample-ratio check reads each task's allocation."""

import io

import pytest

from uplift.estimates.compute import estimates_refresh
from uplift.estimates.selectors import snapshot_as_json
from uplift.worklog.services import worklog_import
from uplift.worklog.worklog_csv import read_worklog

pytestmark = pytest.mark.django_db

HEADER = (
    "task_id,researcher,team,task_type,title,assignment,condition,allocation_ai,"
    "forecast_no_ai_minutes,forecast_ai_minutes,status,actual_minutes,started_at,completed_at,"
    "perceived_other_minutes,tools\n"
)


def design_file(allocation: str | None) -> str:
    """100 completed tasks of four researchers, drawn "AI allowed" with probability 0.8: 80
    came out AI allowed and 20 not, exactly as planned. With ``allocation`` None the file has
    no allocation_ai column."""
    header = HEADER if allocation is not None else HEADER.replace("allocation_ai,", "")
    allocation_cell = "" if allocation is None else f"{allocation},"
    rows = []
    for i in range(100):
        ai = i % 5 != 0
        forecast = 30 + (i * 7) % 90
        actual = forecast * (0.9 if ai else 1.0) + i % 11
        day = 1 + i % 28
        rows.append(
            f"T{i},r{i % 4}@example.org,Alignment,Experiment code,,randomized,"
            f"{'ai' if ai else 'no_ai'},{allocation_cell}{forecast},{forecast * 0.8:g},completed,"
            f"{actual:g},2025-03-{day:02d}T09:00:00+00:00,2025-03-{day:02d}T17:00:00+00:00,,\n"
        )
    return header + "".join(rows)


def overall_after_refresh(text: str) -> dict:
    worklog_import(records=read_worklog(io.StringIO(text)))
    document = snapshot_as_json(snapshot=estimates_refresh())
    return next(row for row in document["estimates"] if row["dimension"] == "overall")


def test_an_imported_80_20_design_with_its_allocation_raises_no_sample_ratio_warning():
    row = overall_after_refresh(design_file("0.8"))
    assert (row["status"], row["n_ai"], row["n_no_ai"]) == ("ok", 80, 20)
    ratio = row["diagnostics"]["sample_ratio"]
    assert ratio["expected_ai"] == pytest.approx(80.0)
    assert ratio["chi2"] == pytest.approx(0.0, abs=1e-9)
    assert "sample_ratio_mismatch" not in row["warnings"]


def test_the_same_design_without_its_allocation_is_taken_as_50_50_and_warns():
    row = overall_after_refresh(design_file(None))
    ratio = row["diagnostics"]["sample_ratio"]
    # Against 50 expected per arm, 80 and 20: chi-square (30² / 50) * 2 = 36.
    assert ratio["expected_ai"] == pytest.approx(50.0)
    assert ratio["chi2"] == pytest.approx(36.0)
    assert "sample_ratio_mismatch" in row["warnings"]
