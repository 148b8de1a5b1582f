"""Pseudonyms: how a researcher and a task read to someone who may not know who they are.

Analysts read every researcher and every imported task id under a pseudonym
(docs/product.md, "Pseudonyms"); ``uplift.accounts.access`` decides who reads them.
"""

import hashlib
import hmac

from django.conf import settings


def researcher_pseudonym(user_id: int) -> str:
    """A stable keyed hash of the researcher's id: the same person always reads the same.

    HMAC-SHA256 under ``PSEUDONYM_KEY``: without the key the id cannot be recovered by trying
    ids, and rotating the key re-pseudonymizes everyone.
    """
    digest = hmac.new(
        settings.PSEUDONYM_KEY.encode(), str(user_id).encode(), hashlib.sha256
    ).hexdigest()
    return f"researcher-{digest[:12]}"


# Task pseudonyms have a key of their own, derived from PSEUDONYM_KEY: the export computes them
# inside PostgreSQL, which so sees this key but never the one behind researchers' pseudonyms.
_TASK_KEY_LABEL = b"uplift task ids"
_SHA256_BLOCK = 64


def _task_key() -> bytes:
    return hmac.new(settings.PSEUDONYM_KEY.encode(), _TASK_KEY_LABEL, hashlib.sha256).digest()


def task_pseudonym(task_id: int) -> str:
    """A stable keyed hash of the task's id, shown to analysts instead of its external id.

    An external id such as ``demo-ada-000`` can name the researcher beside their pseudonym;
    this says nothing, and the same task always reads the same (HMAC-SHA256, as for
    researchers, under a key derived from ``PSEUDONYM_KEY``).
    """
    digest = hmac.new(_task_key(), str(task_id).encode(), hashlib.sha256).hexdigest()
    return f"task-{digest[:12]}"


def task_pseudonym_sql(id_column: str) -> tuple[str, list[bytes]]:
    """``task_pseudonym`` of ``id_column`` as a PostgreSQL expression, and its parameters.

    HMAC-SHA256 spelled out with PostgreSQL's ``sha256``: H((K ^ opad) || H((K ^ ipad) || m)),
    the padded keys passed as parameters. ``tests/api/test_export.py`` holds it to the Python.
    """
    key = _task_key().ljust(_SHA256_BLOCK, b"\0")
    inner = bytes(byte ^ 0x36 for byte in key)
    outer = bytes(byte ^ 0x5C for byte in key)
    sql = (
        "'task-' || left(encode(sha256(%s::bytea || sha256(%s::bytea || "
        f"convert_to({id_column}::text, 'UTF8'))), 'hex'), 12)"
    )
    return sql, [outer, inner]
