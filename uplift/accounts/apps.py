from django.apps import AppConfig


class AccountsConfig(AppConfig):
    verbose_name = "Accounts and teams"
    name = "uplift.accounts"
    label = "accounts"
