"""The randomization draw in columns instead of one label in ``Task.block``.

Planning wrote the label as "r<owner>-t<task type>-b<number>:<position>/<size>" (a permuted
block) or "r<owner>-t<task type>-coin" (a biased coin), the import as "imported", and a
self-selected task has none. Each label is read into the new columns here, and the next
migration removes it. Nothing is dropped silently: a label the columns cannot give back
exactly (one no code writes, none on a randomized task, a stratum naming an account or a task
type that does not exist) is recorded as drawn elsewhere ("imported"; nothing when
self-selected) and its old value written to the audit log (via "migration"). Going back
writes each label from the columns.
"""

import re

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

BLOCK = re.compile(
    r"r(?P<owner>\d+)-t(?P<type>\d+)-b(?P<number>\d+):(?P<position>\d+)/(?P<size>\d+)"
)
COIN = re.compile(r"r(?P<owner>\d+)-t(?P<type>\d+)-coin")
# The largest values of the columns: PositiveIntegerField and PositiveSmallIntegerField.
MAX_NUMBER, MAX_SIZE = 2_147_483_647, 32_767
# draw, stratum_owner_id, stratum_task_type_id, block_number, block_position, block_size
ELSEWHERE = ("imported", None, None, None, None, None)
SET_COLUMNS = (
    "UPDATE worklog_task SET draw = %s, stratum_owner_id = %s, stratum_task_type_id = %s,"
    " block_number = %s, block_position = %s, block_size = %s WHERE id = %s"
)
SET_LABEL = "UPDATE worklog_task SET block = %s WHERE id = %s"
BATCH = 5000
DETAIL = "The block label named no draw the new columns can hold: recorded as drawn elsewhere."


def _columns(label: str, owners: set[int], task_types: set[int]) -> tuple | None:
    """The columns of a randomized task's label, or None when they cannot give it back."""
    match = BLOCK.fullmatch(label) or COIN.fullmatch(label)
    if match is None:
        return None
    owner, task_type = int(match["owner"]), int(match["type"])
    if owner not in owners or task_type not in task_types:
        return None
    if match.re is COIN:
        return ("coin", owner, task_type, None, None, None)
    number, position, size = int(match["number"]), int(match["position"]), int(match["size"])
    if not (1 <= number <= MAX_NUMBER and 1 <= position <= size <= MAX_SIZE):
        return None
    return ("block", owner, task_type, number, position, size)


def _label(draw, owner, task_type, number, position, size) -> str:
    if draw == "coin":
        return f"r{owner}-t{task_type}-coin"
    return f"r{owner}-t{task_type}-b{number}:{position}/{size}"


def _batches(tasks, *fields):
    """The ``fields`` of ``tasks``, their id first, a batch at a time in id order: no cursor is
    held open across the writes."""
    last = 0
    while batch := list(
        tasks.filter(pk__gt=last).order_by("pk").values_list("pk", *fields)[:BATCH]
    ):
        yield batch
        last = batch[-1][0]


def labels_to_columns(apps, schema_editor):
    Task = apps.get_model("worklog", "Task")
    AuditEntry = apps.get_model("worklog", "AuditEntry")
    owners = set(apps.get_model(settings.AUTH_USER_MODEL).objects.values_list("pk", flat=True))
    task_types = set(apps.get_model("worklog", "TaskType").objects.values_list("pk", flat=True))
    # Imported tasks, often most of them, in one statement; self-selected ones keep the defaults.
    Task.objects.filter(assignment="randomized", block="imported").update(draw="imported")
    drawn = Task.objects.filter(assignment="randomized").exclude(block="imported")
    for batch in _batches(drawn, "block"):
        rows, audited = [], []
        for pk, label in batch:
            columns = _columns(label, owners, task_types)
            if columns is None:
                columns = ELSEWHERE
                audited.append((pk, label, "imported"))
            rows.append((*columns, pk))
        with schema_editor.connection.cursor() as cursor:
            cursor.executemany(SET_COLUMNS, rows)
        _audit(AuditEntry, audited)
    stray = Task.objects.filter(assignment="self_selected", block__gt="")
    for batch in _batches(stray, "block"):
        _audit(AuditEntry, [(pk, label, "") for pk, label in batch])


def _audit(AuditEntry, entries) -> None:
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                task_id=pk,
                action="changed",
                field="block",
                old_value=old,
                new_value=new,
                via="migration",
                detail=DETAIL,
            )
            for pk, old, new in entries
        ]
    )


def columns_to_labels(apps, schema_editor):
    Task = apps.get_model("worklog", "Task")
    Task.objects.filter(draw="imported").update(block="imported")
    drawn = Task.objects.filter(draw__in=["block", "coin"])
    columns = (
        "draw",
        "stratum_owner",
        "stratum_task_type",
        "block_number",
        "block_position",
        "block_size",
    )
    for batch in _batches(drawn, *columns):
        with schema_editor.connection.cursor() as cursor:
            cursor.executemany(SET_LABEL, [(_label(*values), pk) for pk, *values in batch])


class Migration(migrations.Migration):
    dependencies = [
        ("worklog", "0004_bounds_and_names"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="draw",
            field=models.CharField(
                blank=True,
                choices=[
                    ("block", "Permuted block"),
                    ("coin", "Biased coin"),
                    ("imported", "Imported"),
                ],
                editable=False,
                help_text="How the condition was drawn: in a permuted block, by a biased coin when the allocation needs blocks over 20, or elsewhere (imported). Empty when self-selected.",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="task",
            name="stratum_owner",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="task",
            name="stratum_task_type",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="worklog.tasktype",
            ),
        ),
        migrations.AddField(
            model_name="task",
            name="block_number",
            field=models.PositiveIntegerField(
                editable=False, help_text="The block's number in its stratum, from 1.", null=True
            ),
        ),
        migrations.AddField(
            model_name="task",
            name="block_position",
            field=models.PositiveSmallIntegerField(
                editable=False, help_text="The draw's position in its block, from 1.", null=True
            ),
        ),
        migrations.AddField(
            model_name="task",
            name="block_size",
            field=models.PositiveSmallIntegerField(
                editable=False, help_text="How many draws the block holds.", null=True
            ),
        ),
        migrations.RunPython(labels_to_columns, columns_to_labels),
    ]
