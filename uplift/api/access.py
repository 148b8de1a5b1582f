"""Who may see and change what through the API (docs/product.md, "Who may see what").

Every endpoint and the export narrow their rows with these functions, so the rules live once:
researchers their own tasks, leads their teams' tasks, analysts everything read-only with
researchers pseudonymized, admins (``is_staff``) everything.
"""

import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet

from uplift.accounts.models import Membership, Team, User
from uplift.worklog.models import Task


@dataclass(frozen=True)
class ApiAccess:
    """One user's reach in the API, read once per request from their memberships."""

    user_id: int
    is_admin: bool
    is_analyst: bool
    team_ids: frozenset[int]
    lead_team_ids: frozenset[int]

    @property
    def sees_everything(self) -> bool:
        return self.is_admin or self.is_analyst

    @property
    def pseudonymized(self) -> bool:
        """Analysts never see who a researcher is; admins do."""
        return self.is_analyst and not self.is_admin


def access_of(user: User) -> ApiAccess:
    """The user's API access, cached on the user object for the rest of the request."""
    cached = getattr(user, "_api_access", None)
    if cached is not None:
        return cached
    # No ordering: Membership's default order would join the user and team tables.
    roles = list(Membership.objects.filter(user=user).order_by().values_list("team_id", "role"))
    access = ApiAccess(
        user_id=user.pk,
        is_admin=user.is_staff,
        is_analyst=any(role == Membership.Role.ANALYST for _, role in roles),
        team_ids=frozenset(team_id for team_id, _ in roles),
        lead_team_ids=frozenset(t for t, role in roles if role == Membership.Role.LEAD),
    )
    user._api_access = access
    return access


def tasks_visible(access: ApiAccess) -> QuerySet[Task]:
    """The tasks the user may read: own, the teams they lead, or all."""
    tasks = Task.objects.all()
    if access.sees_everything:
        return tasks
    return tasks.filter(Q(owner_id=access.user_id) | Q(team_id__in=access.lead_team_ids))


def task_editable(access: ApiAccess, task: Task) -> bool:
    """Only the task's researcher changes it (and admins); leads and analysts only read."""
    return access.is_admin or task.owner_id == access.user_id


def teams_visible(access: ApiAccess) -> QuerySet[Team]:
    teams = Team.objects.all()
    return teams if access.sees_everything else teams.filter(pk__in=access.team_ids)


def researcher_pseudonym(user_id: int) -> str:
    """A stable keyed hash of the researcher's id: the same person always reads the same.

    HMAC-SHA256 under ``PSEUDONYM_KEY``: without the key the id cannot be recovered by trying
    ids, and rotating the key re-pseudonymizes everyone.
    """
    digest = hmac.new(
        settings.PSEUDONYM_KEY.encode(), str(user_id).encode(), hashlib.sha256
    ).hexdigest()
    return f"researcher-{digest[:12]}"


def researcher_label(access: ApiAccess, *, user_id: int, email: str) -> str:
    """How a task's researcher is shown to this user: pseudonym for analysts, email otherwise."""
    return researcher_pseudonym(user_id) if access.pseudonymized else email


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


def task_label(access: ApiAccess, *, task_id: int, external_id: str) -> str:
    """How a task's external id is shown to this user: a pseudonym for analysts, else itself."""
    return task_pseudonym(task_id) if access.pseudonymized else external_id
