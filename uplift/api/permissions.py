"""Role checks shared by the API views (the rules themselves are in ``access``)."""

from rest_framework.permissions import BasePermission

from uplift.api.access import access_of


class IsAnalystOrAdmin(BasePermission):
    """Organisation-wide data (estimates, snapshots, import): analysts and admins only."""

    message = "Only analysts and admins may use this endpoint."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return access_of(user).sees_everything
