"""Refused changes of locked fields, and their record in the audit log."""

from uplift.accounts.models import User
from uplift.worklog.models import AuditEntry
from uplift.worklog.services._common import shown


def audit_record_refusals(*, refusals, actor: User | None, via: str) -> None:
    """Write one audit entry per refused change of a locked field.

    ``refusals`` holds ``(task, problem, old, new)`` tuples; ``problem`` has a ``column`` (the
    field) and reads as the detail. Call it outside any transaction that will be rolled back,
    or the record of the refusal would be rolled back with it.
    """
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                actor=actor,
                task=task,
                action=AuditEntry.Action.REFUSED,
                field=problem.column,
                old_value=shown(old),
                new_value=shown(new),
                via=via,
                detail=str(problem),
            )
            for task, problem, old, new in refusals
        ]
    )
