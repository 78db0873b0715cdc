from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "pocketdesk.messaging"
    label = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from pocketdesk.core.schedule import periodic_register
        from pocketdesk.messaging import tasks
        from pocketdesk.messaging.adapters import adapter_register, meta, twilio_sms, webchat
        from pocketdesk.messaging.adapters import apprise as apprise_adapter
        from pocketdesk.messaging.adapters import email as email_adapter
        from pocketdesk.messaging.adapters import social as social_adapter
        from pocketdesk.messaging.adapters import webpush as webpush_adapter

        adapter_register(twilio_sms.ADAPTER)
        adapter_register(webchat.ADAPTER)
        adapter_register(email_adapter.ADAPTER)
        adapter_register(social_adapter.ADAPTER)
        adapter_register(apprise_adapter.ADAPTER)
        adapter_register(webpush_adapter.ADAPTER)
        for meta_adapter in meta.ADAPTERS:
            adapter_register(meta_adapter)
        periodic_register("messaging.sweep", tasks.messaging_sweep, every_seconds=5)
