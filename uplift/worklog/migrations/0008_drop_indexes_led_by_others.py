"""Drop the indexes of five foreign keys that another index starts with: a task's owner, team
and task type (task_owner_status, task_team_status, task_type_status), a tool use's task and
tool (tool_use_once_per_task, tool_use_tool_task). Those serve every look-up by the key alone;
each index dropped is one write less per task or tool use written (docs/performance.md,
"Worklog import"). SQLite rebuilds both tables for this: the guards are installed again."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from uplift.worklog.migrations import _guards


def guards(apps, schema_editor):
    _guards.install(schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_team_name_any_case"),
        ("worklog", "0007_guards_cover_the_draw"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="task",
            name="owner",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="tasks",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="task",
            name="task_type",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="tasks",
                to="worklog.tasktype",
            ),
        ),
        migrations.AlterField(
            model_name="task",
            name="team",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="tasks",
                to="accounts.team",
            ),
        ),
        migrations.AlterField(
            model_name="tooluse",
            name="task",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="tool_uses",
                to="worklog.task",
            ),
        ),
        migrations.AlterField(
            model_name="tooluse",
            name="tool",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="uses",
                to="worklog.tool",
            ),
        ),
        migrations.RunPython(guards, guards),
    ]
