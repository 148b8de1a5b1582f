"""The task lock covers the draw's columns, and SQLite gets back the guards its table rebuilds
dropped (0003 to 0006 altered both tables; see ``_guards``)."""

from django.db import migrations

from uplift.worklog.migrations import _guards


def forward(apps, schema_editor):
    _guards.install(schema_editor)


def backward(apps, schema_editor):
    _guards.install(schema_editor, with_draw=False)


class Migration(migrations.Migration):
    dependencies = [("worklog", "0006_remove_task_block")]

    operations = [migrations.RunPython(forward, backward)]
