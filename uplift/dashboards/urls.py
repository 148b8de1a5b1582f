from django.urls import path

from uplift.dashboards import lead_views

app_name = "dashboards"
urlpatterns = [
    path("", lead_views.team_dashboard, name="team"),
    path("org/", lead_views.org_dashboard, name="org"),
    path("flagged/", lead_views.flagged_tasks, name="flagged"),
    path("csv/<slug:slug>/", lead_views.team_chart_csv, name="team_csv"),
    path("org/csv/<slug:slug>/", lead_views.org_chart_csv, name="org_csv"),
    path("recompute/", lead_views.recompute, name="recompute"),
    path("jobs/<int:pk>/", lead_views.job_status, name="job"),
]
