from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "pocketdesk.conversations"
    label = "conversations"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from pocketdesk.conversations.services.messages import (
            message_receive,
            message_status_changed,
        )
        from pocketdesk.messaging.handlers import inbound_handler_register, status_handler_register

        inbound_handler_register("conversations", message_receive)
        status_handler_register("conversations", message_status_changed)
