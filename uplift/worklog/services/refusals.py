"""Refused changes of locked fields, and their record in the audit log."""

from collections.abc import Iterable
from dataclasses import dataclass

from uplift.accounts.models import User
from uplift.worklog.models import AuditEntry, Task
from uplift.worklog.services._common import shown
from uplift.worklog.worklog_csv import Problem


@dataclass(frozen=True)
class LockedFieldRefusal:
    """A change of a field locked after assignment, refused: what the audit log records of it.

    ``old`` is the value the task keeps, ``new`` the value refused. ``row`` is the file's row
    when the change came from an import (None otherwise): the refusal then reads as the
    file's problem, row and column.
    """

    task: Task
    field: str
    old: object
    new: object
    message: str = "cannot change after assignment"
    row: int | None = None

    def __str__(self) -> str:
        if self.row is None:
            return f"{self.field}: {self.message}"
        return str(self.problem())

    def problem(self) -> Problem:
        """The refusal as a problem of the imported file."""
        return Problem(self.row, self.field, self.message)


def audit_record_refusals(
    *, refusals: Iterable[LockedFieldRefusal], actor: User | None, via: str
) -> None:
    """Write one audit entry per refused change of a locked field.

    Call it outside any transaction that will be rolled back, or the record of the refusal
    would be rolled back with it.
    """
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                actor=actor,
                task=refusal.task,
                action=AuditEntry.Action.REFUSED,
                field=refusal.field,
                old_value=shown(refusal.old),
                new_value=shown(refusal.new),
                via=via,
                detail=str(refusal),
            )
            for refusal in refusals
        ]
    )
