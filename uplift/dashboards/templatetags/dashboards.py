from django import template

from uplift.accounts.models import Membership

register = template.Library()


@register.filter
def sees_dashboards(user) -> bool:
    """Whether the navigation offers the dashboards: admins and team leads."""
    if not user.is_authenticated:
        return False
    if getattr(user, "sees_dashboards", False):  # set by the dashboard views' own check
        return True
    return user.is_staff or Membership.objects.filter(user=user, role=Membership.Role.LEAD).exists()
