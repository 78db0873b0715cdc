from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "pocketdesk.demo"
    label = "demo"
    verbose_name = "Demo data"
