from django.apps import AppConfig


class WorklogConfig(AppConfig):
    name = "uplift.worklog"
    label = "worklog"
