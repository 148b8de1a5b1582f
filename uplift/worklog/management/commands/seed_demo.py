from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from uplift.accounts.models import Membership, Team, User
from uplift.worklog import demo
from uplift.worklog.models import Task, TaskType, Tool
from uplift.worklog.services import worklog_import

PASSWORD = "uplift-demo"
# username -> (first name, role, team); admin is a superuser.
ACCOUNTS = {
    "ada": ("Ada", Membership.Role.RESEARCHER, "Alignment"),
    "lin": ("Lin", Membership.Role.LEAD, "Alignment"),
    "ana": ("Ana", Membership.Role.ANALYST, None),
    "admin": ("Admin", None, None),
}


class Command(BaseCommand):
    help = (
        "Create the demo organisation and its demo accounts (idempotent; refuses with DEBUG off)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (not for production)."
        )

    def handle(self, *args, force: bool, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates accounts with a published password; it runs only with "
                "DEBUG on. Use --force if you really mean it."
            )
        with transaction.atomic():
            for name, vendor, model_version in demo.TOOLS:
                Tool.objects.update_or_create(
                    name=name, defaults={"vendor": vendor, "model_version": model_version}
                )
            for name in demo.TASK_TYPES:
                TaskType.objects.get_or_create(name=name)
            for name in demo.TEAMS:
                Team.objects.get_or_create(name=name)
            self._accounts()
            # Demo tasks already there are left as they are (their forecasts are locked):
            # seeding again, on any later day, only adds what is missing.
            existing = set(
                Task.objects.filter(source=demo.SOURCE).values_list("external_id", flat=True)
            )
            records = [
                record
                for record in demo.demo_records(today=timezone.now())
                if record.task_id not in existing
            ]
            created = worklog_import(records=records, source=demo.SOURCE).created if records else 0
        self.stdout.write(
            f"Demo data: {len(existing) + created} tasks ({created} created). "
            f"Log in as ada, lin, ana or admin with password {PASSWORD!r}."
        )

    def _accounts(self) -> None:
        for username, (first_name, role, team_name) in ACCOUNTS.items():
            user, _ = User.objects.get_or_create(
                username=username,
                defaults={"email": demo.researcher_email(username), "first_name": first_name},
            )
            user.email = demo.researcher_email(username)
            user.first_name = first_name
            user.is_staff = user.is_superuser = username == "admin"
            user.set_password(PASSWORD)
            user.save()
            if role == Membership.Role.ANALYST:
                for team in Team.objects.all():
                    Membership.objects.update_or_create(
                        user=user, team=team, defaults={"role": role}
                    )
            elif role is not None:
                Membership.objects.update_or_create(
                    user=user, team=Team.objects.get(name=team_name), defaults={"role": role}
                )
