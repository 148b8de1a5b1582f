from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.db.models import Q

from uplift.worklog.bounds import NAME_MAX_LENGTH, name_constraints


class User(AbstractUser):
    """A person using Uplift: researcher, lead, analyst or admin (``is_staff``)."""

    class Meta:
        ordering = ["username"]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    def save(self, *args, **kwargs) -> None:
        """Save; a new password (from the user or an administrator) revokes every API token.

        A token made before the change would otherwise keep working for whoever holds it:
        changing a password that may be known to someone else must lock them out of the API too.
        """
        password_changed = self._password is not None and not self._state.adding
        with transaction.atomic():
            super().save(*args, **kwargs)
            if password_changed:
                self.auth_token_set.all().delete()


class Team(models.Model):
    name = models.CharField(max_length=NAME_MAX_LENGTH, unique=True)
    # Probability that a randomized task of this team is assigned "AI allowed".
    allocation_ai = models.FloatField(
        default=0.5, help_text="Share of randomized tasks assigned to AI allowed (0-1)."
    )
    observational = models.BooleanField(
        default=False,
        help_text="Tasks are not randomized: researchers state whether they will use AI.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(allocation_ai__gt=0) & Q(allocation_ai__lt=1),
                name="team_allocation_between_0_and_1",
            ),
            *name_constraints("team"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in one team."""

    class Role(models.TextChoices):
        RESEARCHER = "researcher", "Researcher"
        LEAD = "lead", "Team lead"
        ANALYST = "analyst", "Analyst"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.RESEARCHER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_one_role_per_team"),
            models.CheckConstraint(
                condition=Q(role__in=["researcher", "lead", "analyst"]),
                name="membership_role_valid",
            ),
        ]
        indexes = [models.Index(fields=["team", "role"])]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} of {self.team}"
