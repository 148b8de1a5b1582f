from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from uplift.worklog import metr
from uplift.worklog.services import IMPORT_SOURCE, import_worklog_file, worklog_import
from uplift.worklog.worklog_csv import WorklogFileError, decoded_lines


class Command(BaseCommand):
    help = "Import a worklog CSV, or METR's data_complete.csv with --format metr; all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--format", choices=["worklog", "metr"], default="worklog")
        parser.add_argument(
            "--source",
            help="Namespace of the file's task ids (default: 'worklog', or 'metr-early-2025').",
        )

    def handle(self, *args, path: Path, format: str, source: str | None, **options):
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        source = source or (metr.SOURCE if format == "metr" else IMPORT_SOURCE)
        try:
            with path.open("rb") as stream:
                if format == "metr":
                    records = metr.read_metr(decoded_lines(stream))
                    result = worklog_import(records=records, source=source)
                else:
                    # Streamed into the database: a file of any size costs the same memory.
                    result = import_worklog_file(decoded_lines(stream), source=source)
        except UnicodeDecodeError as error:
            raise CommandError(f"{path} is not UTF-8 text: {error}") from None
        except WorklogFileError as error:
            raise CommandError(
                f"Nothing was imported: {error.total} problem(s) in {path}\n{error}"
            ) from None
        self.stdout.write(
            f"Imported {result.total} tasks from {path}: {result.created} created, "
            f"{result.updated} updated, {result.unchanged} unchanged."
        )
