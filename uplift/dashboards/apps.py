from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "uplift.dashboards"
    label = "dashboards"
