from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "pocketdesk.messaging"
    label = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from pocketdesk.core.schedule import periodic_register
        from pocketdesk.messaging import tasks
        from pocketdesk.messaging.adapters import adapter_register, twilio_sms

        adapter_register(twilio_sms.ADAPTER)
        periodic_register("messaging.sweep", tasks.messaging_sweep, every_seconds=5)
