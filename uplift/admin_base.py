"""Admin classes shared by the apps (they depend on Django alone, never on an app)."""

from django.contrib import admin


class ViewOnlyAdmin(admin.ModelAdmin):
    """Records the product writes itself: the admin lists and shows them, never adds or edits."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
