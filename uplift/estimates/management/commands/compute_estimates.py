from django.core.management.base import BaseCommand, CommandError

from uplift.estimates.compute import estimates_refresh
from uplift.estimates.lock import RefreshBusy
from uplift.estimates.models import Snapshot
from uplift.estimates.selectors import estimate_list
from uplift.estimates.vocabulary import Dimension, RowStatus

# The rows summarised here; `show_estimates` prints them all.
SUMMARISED = (Dimension.OVERALL, Dimension.TEAM, Dimension.TASK_TYPE, Dimension.OBSERVATIONAL)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1%}"


class Command(BaseCommand):
    help = "Recompute every estimate now (as the Celery job does) and print a summary."

    def handle(self, *args, **options):
        try:
            snapshot = estimates_refresh(trigger=Snapshot.Trigger.MANUAL)
        except RefreshBusy:
            raise CommandError("Another refresh is running; try again when it finishes.") from None
        self.stdout.write(
            f"Snapshot {snapshot.pk}: {snapshot.n_tasks} tasks read, "
            f"{snapshot.estimates.count()} estimates in {snapshot.duration_seconds:.2f} s "
            f"(method {snapshot.method_version})."
        )
        header = f"{'scope':<40} {'tasks':>6} {'AI allowed/No AI':>16} {'time change':>12}  95% CI"
        self.stdout.write(header)
        for estimate in estimate_list(snapshot=snapshot):
            if estimate.dimension not in SUMMARISED:
                continue
            row = estimate.data
            scope = (
                f"{estimate.dimension}: {estimate.group}" if estimate.group else estimate.dimension
            )
            if row["status"] == RowStatus.OK:
                figures = (
                    f"{_percent(row['time_change']):>12}  "
                    f"{_percent(row['ci_low'])} to {_percent(row['ci_high'])}"
                )
            else:
                figures = f"{row['status'].replace('_', ' '):>12}"
            warnings = [w for w in row["warnings"] if w != row["status"]]
            self.stdout.write(
                f"{scope[:40]:<40} {row['n_tasks']:>6} {row['n_ai']:>10}/{row['n_no_ai']:<5} "
                f"{figures}{'  [' + ', '.join(warnings) + ']' if warnings else ''}"
            )
