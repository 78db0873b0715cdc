from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "pocketdesk.accounts"
    label = "accounts"
    verbose_name = "Accounts"
