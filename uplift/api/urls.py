from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from uplift.api import pages, views

app_name = "api"

# Path converters: ids match as <str:pk>, so any id reaches the view, which answers 404 in JSON.
router = DefaultRouter(trailing_slash=True, use_regex_path=False)
router.include_root_view = False
# The format is a query parameter of the export, not a URL suffix.
router.include_format_suffixes = False
router.register("tasks", views.TaskViewSet, basename="task")
router.register("work-sessions", views.WorkSessionViewSet, basename="work-session")
router.register("tool-uses", views.ToolUseViewSet, basename="tool-use")
router.register("teams", views.TeamViewSet, basename="team")
router.register("task-types", views.TaskTypeViewSet, basename="task-type")
router.register("tools", views.ToolViewSet, basename="tool")
router.register("snapshots", views.SnapshotViewSet, basename="snapshot")

urlpatterns = [
    path("estimates/", views.EstimatesView.as_view(), name="estimates"),
    path("import/", views.ImportView.as_view(), name="import"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: the CSP refuses inline
    # scripts. Swagger UI does set inline styles, allowed on this page only.
    path(
        "docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema")
        ),
        name="docs",
    ),
    path("tokens/", pages.tokens, name="tokens"),
    path("tokens/<str:token_key>/revoke/", pages.token_revoke, name="token-revoke"),
    *router.urls,
    re_path(r"^(?P<path>.*)$", views.not_found),
]
