"""Role checks shared by the API views (the rules themselves are in ``uplift.accounts.access``)."""

from rest_framework.permissions import BasePermission

from uplift.accounts.access import Access


class _RolePermission(BasePermission):
    """A signed-in user whose access (``request.access``) ``allows`` the endpoint."""

    def allows(self, access: Access) -> bool:
        raise NotImplementedError

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return self.allows(request.access)


class IsAnalystOrAdmin(_RolePermission):
    """Organisation-wide data (estimates, snapshots): analysts and admins only."""

    message = "Only analysts and admins may use this endpoint."

    def allows(self, access: Access) -> bool:
        return access.reads_estimates


class IsAdmin(_RolePermission):
    """Writes into anyone's records (the import): admins (``is_staff``) only.

    An import names researchers by email, creates accounts and memberships and moves tasks
    between researchers: an analyst's read-only, pseudonymized access does not cover that.
    """

    message = "Only admins may import worklog files: ask an admin to import this file."

    def allows(self, access: Access) -> bool:
        return access.may_import
