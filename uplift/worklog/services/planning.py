"""Planning a task: its condition drawn in permuted blocks, or stated when observational."""

import re
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from uplift.accounts.models import Membership, Team, User
from uplift.worklog.bounds import minutes_problem
from uplift.worklog.models import Task, TaskType
from uplift.worklog.selectors import PLANNING_ROLES

# Unpredictable to anyone, researcher included: drawn from the operating system's entropy.
_random = secrets.SystemRandom()
# Largest permuted block; allocations that need more fall back to a biased coin.
MAX_BLOCK_SIZE = 20
_BLOCK_RE = re.compile(r"^(?P<key>r\d+-t\d+-b(?P<n>\d+)):(?P<pos>\d+)/(?P<size>\d+)$")


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
) -> Task:
    """Create a planned task and assign its condition, once and for all.

    Randomized tasks are drawn from permuted blocks per (researcher, task type) holding exactly
    the team's planned share of "AI allowed"; the block, the draw position, the time and the
    allocation are recorded on the task. If the team or the task type is observational, the
    researcher's statement ``uses_ai`` sets the condition and the task is self-selected.
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
            User.objects.select_for_update().filter(pk=owner.pk).first()
            task.assignment = Task.Assignment.RANDOMIZED
            task.allocation_ai = team.allocation_ai
            task.condition, task.block = _draw(
                owner=owner, task_type=task_type, allocation_ai=team.allocation_ai
            )
            task.randomized_at = timezone.now()
        task.save()
    return task


def _draw(*, owner: User, task_type: TaskType, allocation_ai: float) -> tuple[str, str]:
    """The next condition of the (researcher, task type) stratum and its block label."""
    base = block_base_size(allocation_ai=allocation_ai)
    stratum = f"r{owner.pk}-t{task_type.pk}"
    if base is None:
        ai = _random.random() < allocation_ai
        return (Task.Condition.AI if ai else Task.Condition.NO_AI), f"{stratum}-coin"

    last = (
        Task.objects.filter(
            owner=owner,
            task_type=task_type,
            assignment=Task.Assignment.RANDOMIZED,
            block__startswith=f"{stratum}-b",
        )
        .order_by("-randomized_at", "-id")
        .values_list("block", "allocation_ai")
        .first()
    )
    match = _BLOCK_RE.match(last[0]) if last else None
    if match and int(match["pos"]) < int(match["size"]) and last[1] == allocation_ai:
        key, pos, size = match["key"], int(match["pos"]) + 1, int(match["size"])
        drawn_ai = Task.objects.filter(
            owner=owner,
            task_type=task_type,
            block__startswith=f"{key}:",
            condition=Task.Condition.AI,
        ).count()
    else:
        # A new block (also when the team's allocation changed); its size varies so that the
        # end of a block, where the last draw is forced, cannot be foreseen.
        n = int(match["n"]) + 1 if match else 1
        sizes = [s for s in (base, 2 * base) if s <= MAX_BLOCK_SIZE]
        key, pos, size, drawn_ai = f"{stratum}-b{n}", 1, _random.choice(sizes), 0
    # Drawing without replacement from what is left of the block: a uniform random permutation.
    remaining_ai = round(allocation_ai * size) - drawn_ai
    ai = _random.randrange(size - pos + 1) < remaining_ai
    return (Task.Condition.AI if ai else Task.Condition.NO_AI), f"{key}:{pos}/{size}"
