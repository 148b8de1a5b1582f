"""The words of an estimate row are defined once: the rows use them, the docs and models agree."""

import re
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.estimates.test_stats import make_tasks
from uplift.estimates.models import Estimate, ScopedEstimate
from uplift.estimates.stats import estimate_all
from uplift.estimates.vocabulary import Dimension, RowStatus, WarningCode

ESTIMATION_PAGE = Path(__file__).resolve().parents[2] / "docs" / "estimation.md"


def warning_table() -> list[list[str]]:
    """The rows of docs/estimation.md's table of warnings (code, when, what the pages say)."""
    page = ESTIMATION_PAGE.read_text(encoding="utf-8")
    section = re.search(r"^## Warnings\n(.*?)(?=^## |\Z)", page, re.M | re.S)
    assert section, "no Warnings section"
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.group(1).splitlines()
        if line.startswith("| `")
    ]


def test_the_docs_table_of_warnings_is_the_vocabulary_in_order():
    table = warning_table()
    assert [row[0] for row in table] == [f"`{code}`" for code in WarningCode]
    assert [row[2] for row in table] == [code.text for code in WarningCode]


def test_rows_use_only_the_vocabulary_and_give_warnings_in_its_order():
    results = [
        estimate_all(make_tasks(seed=1, abandon_ai=0.3)),
        estimate_all(make_tasks(2, 3, seed=9)),  # too few researchers: no row has figures
    ]
    rows = [row for result in results for row in result["estimates"]]
    assert {row["dimension"] for row in rows} == set(Dimension)
    assert {row["status"] for row in rows} == {RowStatus.OK, RowStatus.INSUFFICIENT_DATA}
    rank = {code: i for i, code in enumerate(WarningCode)}
    for row in rows:
        # Stored as JSON: plain strings, whatever the code computes them with.
        assert type(row["dimension"]) is str and type(row["status"]) is str
        assert all(type(code) is str for code in row["warnings"])
        codes = [WarningCode(code) for code in row["warnings"]]
        assert codes == sorted(codes, key=rank.__getitem__)
        if row["status"] != RowStatus.OK:
            assert codes[0] == row["status"]


def test_a_stored_code_the_vocabulary_lacks_is_shown_in_words():
    assert WarningCode.text_of("few_clusters") == WarningCode.FEW_CLUSTERS.text
    assert WarningCode.text_of("some_older_code") == "some older code"


@pytest.mark.django_db
def test_the_stored_rows_offer_the_vocabulary_as_choices_and_the_migrations_have_them():
    for model in (Estimate, ScopedEstimate):
        assert [value for value, _ in model._meta.get_field("dimension").choices] == [*Dimension]
        assert [value for value, _ in model._meta.get_field("status").choices] == [*RowStatus]
    # A word added to the vocabulary needs its migration (of choices only: no SQL).
    call_command("makemigrations", "estimates", "--check", "--dry-run", verbosity=0)
