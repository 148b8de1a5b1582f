"""estimate_all gives the same rows as before its per-call overhead was cut.

Within 1e-11 relative or 1e-13 absolute: rounding differs in the last bits since (X'X)^-1 and
its square roots come from one eigendecomposition instead of an LU inverse and two more.
"""

import json
import math

import pytest

from tests.estimates.golden_datasets import FIXTURE, datasets
from uplift.estimates.stats import estimate_all

GOLDEN = json.loads(FIXTURE.read_text())
DATASETS = datasets()


def assert_same(actual, expected, path="result"):
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert sorted(actual) == sorted(expected), path
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert isinstance(actual, (int, float)), path
        close = math.isclose(actual, expected, rel_tol=1e-11, abs_tol=1e-13)
        assert close, (path, actual, expected)
    else:
        assert actual == expected and type(actual) is type(expected), (path, actual, expected)


def test_golden_covers_every_dataset():
    assert sorted(GOLDEN) == sorted(DATASETS)
    # The datasets reach estimated rows, insufficient ones and flagged outliers.
    rows = [row for result in GOLDEN.values() for row in result["estimates"]]
    assert {row["status"] for row in rows} >= {"ok", "insufficient_data"}
    assert any(row["outliers"] and row["outliers"]["n_flagged"] for row in rows)
    assert any(row["sensitivity"] and row["sensitivity"]["mixed_model"] for row in rows)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_estimate_all_rows_equal_to_before(name):
    result = json.loads(json.dumps(estimate_all(DATASETS[name])))
    assert_same(result, GOLDEN[name])
