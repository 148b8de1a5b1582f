from django.apps import AppConfig


class EstimatesConfig(AppConfig):
    name = "uplift.estimates"
    label = "estimates"
