from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "pocketdesk.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from pocketdesk.core import tasks
        from pocketdesk.core.schedule import periodic_register

        periodic_register(
            "core.idempotency_prune", tasks.idempotency_keys_prune, every_seconds=3600
        )
