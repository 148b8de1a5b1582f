"""EstimateRow.insert_all: rows written by COPY read back as written."""

import pytest

from uplift.estimates.models import Estimate, ScopedEstimate, Snapshot, SnapshotScope

pytestmark = pytest.mark.django_db

AWKWARD = "Tab\there, new\nline, back\\slash, \"quotes\", 'apostrophe', ü, 𝛽, \\N, \\."


def row(position: int, group: str) -> dict:
    return {
        "dimension": "team",
        "group": group,
        "status": "ok",
        "n_tasks": 12 + position,
        "time_change": -0.25,
        "ci_low": None,
        "ci_high": 1e-300,
        "warnings": ["few_clusters"],
        "nested": {"text": group, "list": [1, 2.5, None, True]},
    }


def test_rows_with_awkward_text_and_json_round_trip():
    snapshot = Snapshot.objects.create(status=Snapshot.Status.RUNNING)
    scope = SnapshotScope.objects.create(
        snapshot=snapshot, kind="org", label="Organisation", window="all", n_tasks=3
    )
    rows = [row(0, AWKWARD), row(1, "")]
    Estimate.insert_all(Estimate.from_rows(rows, snapshot=snapshot))
    ScopedEstimate.insert_all(ScopedEstimate.from_rows(rows, scope=scope))
    for stored in (
        list(snapshot.estimates.order_by("position")),
        list(scope.estimates.order_by("position")),
    ):
        assert [s.data for s in stored] == rows
        assert [s.group for s in stored] == [AWKWARD, ""]
        assert [(s.position, s.n_tasks, s.time_change, s.ci_low) for s in stored] == [
            (0, 12, -0.25, None),
            (1, 13, -0.25, None),
        ]
        assert stored[0].ci_high == 1e-300
