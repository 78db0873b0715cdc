from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "pocketdesk.core"
    label = "core"
    verbose_name = "Core"
