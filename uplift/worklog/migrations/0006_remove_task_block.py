"""The block label is gone (its columns were filled by 0005); the database checks them.

A separate migration, so that on PostgreSQL the table is altered after the data migration's
deferred foreign key checks have run (they run when 0005's transaction commits).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("worklog", "0005_task_draw_columns")]

    operations = [
        migrations.RemoveField(model_name="task", name="block"),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=models.Q(("draw__in", ["", "block", "coin", "imported"])),
                name="task_draw_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("assignment", "randomized"), models.Q(("draw", ""), _negated=True)),
                    models.Q(("assignment", "self_selected"), ("draw", "")),
                    _connector="OR",
                ),
                name="task_draw_when_randomized",
            ),
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("draw__in", ["block", "coin"]),
                        ("stratum_owner__isnull", False),
                        ("stratum_task_type__isnull", False),
                    ),
                    models.Q(
                        models.Q(("draw__in", ["block", "coin"]), _negated=True),
                        ("stratum_owner__isnull", True),
                        ("stratum_task_type__isnull", True),
                    ),
                    _connector="OR",
                ),
                name="task_draw_stratum",
            ),
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("block_number__gte", 1),
                        ("block_number__isnull", False),
                        ("block_position__gte", 1),
                        ("block_position__isnull", False),
                        ("block_position__lte", models.F("block_size")),
                        ("block_size__isnull", False),
                        ("draw", "block"),
                    ),
                    models.Q(
                        models.Q(("draw", "block"), _negated=True),
                        ("block_number__isnull", True),
                        ("block_position__isnull", True),
                        ("block_size__isnull", True),
                    ),
                    _connector="OR",
                ),
                name="task_draw_block_position",
            ),
        ),
    ]
