from django.contrib import admin
from knox.models import AuthToken

from uplift.api.models import ApiToken

# Knox registers its own token model, which ApiToken replaces (KNOX_TOKEN_MODEL).
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Admins see every token and may revoke one; secrets exist only with their owners."""

    list_display = ["name", "user", "token_key", "created", "expiry", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["name", "token_key", "user__username", "user__email"]
    readonly_fields = ["name", "user", "token_key", "created", "expiry", "last_used_at"]
    exclude = ["digest"]

    def has_add_permission(self, request):
        # A token is created by its owner on the "API tokens" page, which shows the secret.
        return False
