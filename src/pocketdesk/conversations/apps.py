from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "pocketdesk.conversations"
    label = "conversations"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from pocketdesk.conversations.services import message_receive
        from pocketdesk.messaging.inbound import inbound_handler_register

        inbound_handler_register("conversations", message_receive)
