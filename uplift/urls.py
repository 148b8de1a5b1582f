from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from uplift.worklog import views as worklog_views

urlpatterns = [
    path("", worklog_views.today, name="home"),
    path("", include("uplift.worklog.urls")),
    path("accounts/", include("uplift.accounts.urls")),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's).
    path("favicon.ico", lambda request: redirect(static("favicon.svg"))),
    path("admin/", admin.site.urls),
    path("api/v1/", include("uplift.api.urls")),
    path("dashboards/", include("uplift.dashboards.urls")),
]

# A database outage is a 503 even when it strikes outside a view (see uplift.outage).
handler500 = "uplift.outage.server_error"
