"""Writes to the worklog: every change of tasks goes through these functions.

One module per part of the work:

- ``importing``: the worklog CSV, a whole file or nothing (``worklog_import``);
- ``planning``: a new task and the draw of its condition (``task_plan``);
- ``tasks``: changing, completing and abandoning a task;
- ``sessions``: the timer and work sessions (added, corrected, moved, deleted);
- ``tools``: the AI tools logged on a task;
- ``refusals``: refused changes of locked fields and their audit entries.

Callers import from this package; the names below are its whole interface. The export's rows
(``worklog_rows``) are a read, in ``uplift.worklog.selectors``, and stay importable from here.
"""

from uplift.worklog.selectors import worklog_rows, worklog_task_id
from uplift.worklog.services.importing import (
    AUDITED_ON_IMPORT,
    IMPORT_SOURCE,
    IMPORTED_ALLOCATION_AI,
    ImportResult,
    import_worklog_file,
    worklog_import,
)
from uplift.worklog.services.planning import MAX_BLOCK_SIZE, block_base_size, task_plan
from uplift.worklog.services.refusals import LockedFieldRefusal, audit_record_refusals
from uplift.worklog.services.sessions import (
    LONG_SESSION,
    SESSION_AUDIT_FIELD,
    LongSession,
    work_session_add,
    work_session_check,
    work_session_delete,
    work_session_move_problem,
    work_session_start,
    work_session_stop,
    work_session_update,
)
from uplift.worklog.services.tasks import (
    EDITABLE_FIELDS,
    TaskLocked,
    task_abandon,
    task_complete,
    task_update,
)
from uplift.worklog.services.tools import ToolUseEntry, tool_use_set

__all__ = [
    "AUDITED_ON_IMPORT",
    "EDITABLE_FIELDS",
    "IMPORTED_ALLOCATION_AI",
    "IMPORT_SOURCE",
    "LONG_SESSION",
    "MAX_BLOCK_SIZE",
    "SESSION_AUDIT_FIELD",
    "ImportResult",
    "LockedFieldRefusal",
    "LongSession",
    "TaskLocked",
    "ToolUseEntry",
    "audit_record_refusals",
    "block_base_size",
    "task_abandon",
    "task_complete",
    "task_plan",
    "task_update",
    "tool_use_set",
    "work_session_add",
    "work_session_check",
    "work_session_delete",
    "work_session_move_problem",
    "work_session_start",
    "work_session_stop",
    "work_session_update",
    "import_worklog_file",
    "worklog_import",
    "worklog_rows",
    "worklog_task_id",
]
