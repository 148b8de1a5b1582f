"""What every page shows a researcher: the running timer, in the header."""

from dataclasses import dataclass
from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from uplift.worklog import selectors
from uplift.worklog.bounds import WORKING_DAY_MINUTES
from uplift.worklog.models import WorkSession

# Past a working day, a running timer is more likely forgotten than worked: every page asks.
FORGOTTEN_AFTER = timedelta(minutes=WORKING_DAY_MINUTES)


@dataclass(frozen=True)
class HeaderTimer:
    session: WorkSession
    long: bool  # running for longer than a working day


def header_timer(session: WorkSession | None) -> HeaderTimer | None:
    """The header's view of a running session (None: no timer runs).

    A page that has read the running session already gives this as its ``header_timer``,
    which takes the place of the one ``running_timer`` would read.
    """
    if session is None:
        return None
    return HeaderTimer(session, timezone.now() - session.started_at > FORGOTTEN_AFTER)


def running_timer(request: HttpRequest) -> dict:
    """``header_timer``: the signed-in user's running timer, read when a page first shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    lazy = SimpleLazyObject(lambda: header_timer(selectors.work_session_running(owner=user)))
    return {"header_timer": lazy}
