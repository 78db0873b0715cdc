from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "pocketdesk.messaging"
    label = "messaging"
    verbose_name = "Messaging"
