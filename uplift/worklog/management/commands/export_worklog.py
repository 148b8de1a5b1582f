import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from uplift.worklog.models import Task
from uplift.worklog.selectors import worklog_rows
from uplift.worklog.worklog_csv import write_worklog


class Command(BaseCommand):
    help = "Write every task as a worklog CSV, to stdout or to --output."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", type=Path, help="File to write (default: stdout).")

    def handle(self, *args, output: Path | None, **options):
        chunks = write_worklog(worklog_rows(tasks=Task.objects.all()))
        if output is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
            return
        with output.open("w", newline="", encoding="utf-8") as stream:
            for chunk in chunks:
                stream.write(chunk)
        self.stderr.write(f"Wrote {output}")
