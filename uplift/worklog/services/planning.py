"""Planning a task: its condition drawn in permuted blocks, or stated when observational."""

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from uplift.accounts.access import PLANNING_ROLES
from uplift.accounts.models import Membership, Team, User
from uplift.worklog.bounds import forecast_doubts, minutes_problem
from uplift.worklog.models import Task, TaskType
from uplift.worklog.selectors import user_lock

# Unpredictable to anyone, researcher included: drawn from the operating system's entropy.
_random = secrets.SystemRandom()
# Largest permuted block; allocations that need more fall back to a biased coin.
MAX_BLOCK_SIZE = 20


def block_base_size(*, allocation_ai: float) -> int | None:
    """The smallest block size holding a whole number of each arm, or None above the cap."""
    for size in range(2, MAX_BLOCK_SIZE + 1):
        n_ai = allocation_ai * size
        if abs(n_ai - round(n_ai)) < 1e-9 and 0 < round(n_ai) < size:
            return size
    return None


def task_plan(
    *,
    owner: User,
    team: Team,
    task_type: TaskType,
    title: str,
    forecast_no_ai_minutes: float,
    forecast_ai_minutes: float,
    uses_ai: bool | None = None,
    confirm_forecasts: bool = False,
) -> Task:
    """Create a planned task and assign its condition, once and for all.

    Randomized tasks are drawn from permuted blocks per (researcher, task type) holding exactly
    the team's planned share of "AI allowed"; the block, the draw position, the time and the
    allocation are recorded on the task. If the team or the task type is observational, the
    researcher's statement ``uses_ai`` sets the condition and the task is self-selected.

    Forecasts that look like a typo (``uplift.worklog.bounds.forecast_doubts``) are refused
    under ``confirm_forecasts`` unless ``confirm_forecasts``: they cannot change afterwards.
    """
    errors = {}
    for field, value in (
        ("forecast_no_ai_minutes", forecast_no_ai_minutes),
        ("forecast_ai_minutes", forecast_ai_minutes),
    ):
        problem = "is required" if value is None else minutes_problem(value)
        if problem:
            errors[field] = f"A forecast {problem}."
    observational = team.observational or task_type.observational
    if observational and uses_ai is None:
        errors["uses_ai"] = "This task is observational: say whether you will use AI."
    if not Membership.objects.filter(user=owner, team=team, role__in=PLANNING_ROLES).exists():
        errors["team"] = "You can only plan tasks in a team where you are a researcher or lead."
    if errors:
        raise ValidationError(errors)
    doubts = forecast_doubts(forecast_no_ai_minutes, forecast_ai_minutes)
    if doubts and not confirm_forecasts:
        raise ValidationError(
            {
                "confirm_forecasts": ValidationError(
                    f"Check the forecasts: {'; '.join(doubts)}. They cannot change after the "
                    "draw: correct them, or confirm that they are right.",
                    code="implausible_forecasts",
                )
            }
        )

    task = Task(
        owner=owner,
        team=team,
        task_type=task_type,
        title=title.strip(),
        forecast_no_ai_minutes=forecast_no_ai_minutes,
        forecast_ai_minutes=forecast_ai_minutes,
    )
    with transaction.atomic():
        if observational:
            task.assignment = Task.Assignment.SELF_SELECTED
            task.condition = Task.Condition.AI if uses_ai else Task.Condition.NO_AI
        else:
            # One researcher plans one task at a time: the block state read below stays true.
            user_lock(user_id=owner.pk)
            task.assignment = Task.Assignment.RANDOMIZED
            task.allocation_ai = team.allocation_ai
            _draw(task=task, allocation_ai=team.allocation_ai)
            task.randomized_at = timezone.now()
        task.save()
    return task


def _draw(*, task: Task, allocation_ai: float) -> None:
    """Draw the task's condition in its (researcher, task type) stratum; record the draw on it."""
    task.stratum_owner_id, task.stratum_task_type_id = task.owner_id, task.task_type_id
    base = block_base_size(allocation_ai=allocation_ai)
    if base is None:
        task.draw = Task.Draw.COIN
        ai = _random.random() < allocation_ai
        task.condition = Task.Condition.AI if ai else Task.Condition.NO_AI
        return

    stratum = Task.objects.filter(
        owner_id=task.owner_id,
        task_type_id=task.task_type_id,
        stratum_owner_id=task.owner_id,
        stratum_task_type_id=task.task_type_id,
        draw=Task.Draw.BLOCK,
    )
    last = (
        stratum.order_by("-randomized_at", "-id")
        .values_list("block_number", "block_position", "block_size", "allocation_ai")
        .first()
    )
    number, position, size, last_allocation = last or (0, 0, 0, None)
    if last and position < size and last_allocation == allocation_ai:
        position += 1
        drawn_ai = stratum.filter(block_number=number, condition=Task.Condition.AI).count()
    else:
        # A new block (also when the team's allocation changed); its size varies so that the
        # end of a block, where the last draw is forced, cannot be foreseen.
        sizes = [s for s in (base, 2 * base) if s <= MAX_BLOCK_SIZE]
        number, position, size, drawn_ai = number + 1, 1, _random.choice(sizes), 0
    # Drawing without replacement from what is left of the block: a uniform random permutation.
    remaining_ai = round(allocation_ai * size) - drawn_ai
    ai = _random.randrange(size - position + 1) < remaining_ai
    task.draw = Task.Draw.BLOCK
    task.block_number, task.block_position, task.block_size = number, position, size
    task.condition = Task.Condition.AI if ai else Task.Condition.NO_AI
