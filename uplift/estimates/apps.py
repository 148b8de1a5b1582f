from django.apps import AppConfig


class EstimatesConfig(AppConfig):
    name = "uplift.estimates"
    label = "estimates"

    def ready(self) -> None:
        # The worklog announces task changes; it does not know that estimates follow them.
        from uplift.estimates.services import estimates_refresh_on_tasks_changed
        from uplift.worklog.signals import tasks_changed

        tasks_changed.connect(
            estimates_refresh_on_tasks_changed, dispatch_uid="estimates_refresh_on_tasks_changed"
        )
