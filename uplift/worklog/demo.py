"""A believable demo organisation: teams, researchers, six months of randomized tasks.

The data have a known truth, so the dashboards have something real to find: the effect of AI
differs by task type, and researchers expect more from AI than it delivers.
"""

import math
import random
from datetime import datetime, timedelta

from uplift.worklog.models import Task
from uplift.worklog.worklog_csv import TaskRecord

SOURCE = "demo"
EMAIL_DOMAIN = "demo.uplift.invalid"

TEAMS = ("Alignment", "Interpretability", "Pretraining", "Evaluations")
# Task type -> true time ratio with AI allowed (below 1: faster).
TASK_TYPES = {
    "Experiment code": 0.70,
    "Debugging a training run": 0.85,
    "Data analysis": 0.80,
    "Literature review": 0.90,
    "Paper writing": 0.95,
    "Code review": 0.85,
    "Experiment design": 1.08,
}
TOOLS = (
    ("Claude", "Anthropic", "claude-sonnet-4.5"),
    ("ChatGPT", "OpenAI", "gpt-5"),
    ("GitHub Copilot", "GitHub", ""),
    ("Cursor", "Anysphere", ""),
    ("Gemini", "Google", "gemini-2.5-pro"),
)
RESEARCHERS = (
    "ada",
    "grace",
    "alan",
    "barbara",
    "claude",
    "donald",
    "edsger",
    "frances",
    "john",
    "katherine",
    "leslie",
    "margaret",
    "niklaus",
    "radia",
    "shafi",
    "tim",
    "yoshua",
    "fei-fei",
    "geoffrey",
    "judea",
    "marvin",
    "sophie",
    "tony",
    "vint",
    "whitfield",
)
# Researchers expect AI to cut their time by about a quarter.
FORECAST_BIAS = -0.28
POSTHOC_BIAS = -0.22
DAYS = 182
TASKS_PER_RESEARCHER = 120


def researcher_email(name: str) -> str:
    return f"{name}@{EMAIL_DOMAIN}"


def team_of(index: int) -> str:
    return TEAMS[index % len(TEAMS)]


def demo_records(*, today: datetime, seed: int = 7) -> list[TaskRecord]:
    """About 3,000 tasks over the six months up to ``today``; the same seed gives the same data."""
    types = sorted(TASK_TYPES)
    records: list[TaskRecord] = []
    start = (today - timedelta(days=DAYS)).replace(hour=9, minute=0, second=0, microsecond=0)
    for index, name in enumerate(RESEARCHERS):
        # One generator per researcher for what is fixed at planning (type, forecasts, arm) and
        # one per task for what happens later, so the plan never depends on the day it is run.
        planning = random.Random(f"{seed}:{name}")
        pace = math.exp(planning.gauss(0, 0.25))  # some researchers are slower than they think
        favourite_tools = planning.sample([tool[0] for tool in TOOLS], 2)
        # Blocked randomization: each researcher x task type draws from shuffled pairs.
        blocks: dict[str, list[str]] = {}
        for n in range(TASKS_PER_RESEARCHER):
            task_type = planning.choice(types)
            if not blocks.get(task_type):
                blocks[task_type] = planning.sample(list(Task.Condition.values), 2)
            condition = blocks[task_type].pop()
            forecast_no_ai = float(planning.choice([30, 45, 60, 90, 120, 180, 240, 360, 480]))
            forecast_ai = max(
                5.0, round(forecast_no_ai * math.exp(planning.gauss(FORECAST_BIAS, 0.15)))
            )
            rng = random.Random(f"{seed}:{name}:{n}")
            day = DAYS * n / TASKS_PER_RESEARCHER + rng.uniform(0, 1.2)
            started = start + timedelta(days=day, hours=rng.uniform(0, 6))
            ratio = TASK_TYPES[task_type] if condition == Task.Condition.AI else 1.0
            actual = round(forecast_no_ai * pace * ratio * math.exp(rng.gauss(0, 0.45)), 1)
            record = TaskRecord(
                row=len(records) + 2,
                task_id=f"demo-{name}-{n:03d}",
                researcher=researcher_email(name),
                team=team_of(index),
                task_type=task_type,
                title=f"{task_type} #{n + 1}",
                assignment=Task.Assignment.RANDOMIZED.value,
                condition=condition,
                forecast_no_ai_minutes=forecast_no_ai,
                forecast_ai_minutes=forecast_ai,
                status=Task.Status.COMPLETED.value,
                started_at=started,
            )
            days_left = (today - started).total_seconds() / 86400
            if days_left < 2:
                record.status = (
                    Task.Status.PLANNED.value if days_left < 1 else Task.Status.IN_PROGRESS.value
                )
                record.started_at = None if record.status == Task.Status.PLANNED else started
            elif rng.random() < 0.05:
                record.status = Task.Status.ABANDONED.value
            else:
                record.actual_minutes = max(actual, 5.0)
                # Work spreads over days: completion is a while after the start.
                record.completed_at = started + timedelta(
                    minutes=actual, days=rng.choice([0, 0, 0, 1, 2])
                )
                if rng.random() < 0.6:
                    believed = math.exp(rng.gauss(POSTHOC_BIAS, 0.2))
                    other = (
                        actual / believed if condition == Task.Condition.AI else actual * believed
                    )
                    record.perceived_other_minutes = round(other, 1)
            uses_ai = condition == Task.Condition.AI and rng.random() < 0.9
            # Non-compliance: a few No AI tasks use AI all the same.
            uses_ai = uses_ai or (condition == Task.Condition.NO_AI and rng.random() < 0.04)
            if uses_ai and record.status != Task.Status.PLANNED:
                count = rng.choice([1, 1, 2])
                record.tools = sorted(
                    favourite_tools[:count] if rng.random() < 0.8 else [rng.choice(TOOLS)[0]]
                )
            records.append(record)
    return records
