import json

from django.core.management.base import BaseCommand, CommandError

from uplift.estimates.selectors import snapshot_as_json, snapshot_latest
from uplift.estimates.vocabulary import RowStatus


class Command(BaseCommand):
    help = "Print the latest snapshot's estimates."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the full snapshot as JSON.")

    def handle(self, *args, json: bool, **options):
        snapshot = snapshot_latest()
        if snapshot is None:
            raise CommandError("No estimates yet: run `python manage.py compute_estimates`.")
        document = snapshot_as_json(snapshot=snapshot)
        if json:
            self.stdout.write(_dumps(document))
            return
        info = document["snapshot"]
        self.stdout.write(
            f"Snapshot {info['id']} computed {info['computed_at']} from {info['n_tasks']} tasks"
        )
        for row in document["estimates"]:
            figure = (
                f"{row['time_change']:+.3f} ({row['ci_low']:+.3f}, {row['ci_high']:+.3f})"
                if row["status"] == RowStatus.OK
                else row["status"]
            )
            self.stdout.write(f"{row['dimension']:>13} {row['group'] or '':<30} {figure}")


def _dumps(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=False)
