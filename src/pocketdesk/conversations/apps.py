from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "pocketdesk.conversations"
    label = "conversations"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from pocketdesk.conversations.services.messages import (
            messages_receive,
            messages_status_changed,
        )
        from pocketdesk.messaging.handlers import (
            inbound_handler_register,
            status_batch_handler_register,
        )

        inbound_handler_register("conversations", messages_receive)
        status_batch_handler_register("conversations", messages_status_changed)
        self._inbox_ready()
        from pocketdesk.conversations.home import register_home_section

        register_home_section()

    def _inbox_ready(self) -> None:
        """The agents' inbox: automatic assignment after threading, snoozes that wake up, and
        the console's navigation entry."""
        from django.utils.translation import gettext_lazy as _

        from pocketdesk.conversations import tasks
        from pocketdesk.conversations.services.inbox import inbound_auto_assign
        from pocketdesk.core.schedule import periodic_register
        from pocketdesk.messaging.handlers import inbound_handler_register
        from pocketdesk.web.console_nav import ConsoleNavItem, console_nav_register

        # Registered after "conversations": the messages are in their threads by then.
        inbound_handler_register("conversations.auto_assign", inbound_auto_assign)
        periodic_register("conversations.snoozed_wake", tasks.snoozed_wake, every_seconds=60)
        periodic_register("conversations.callbacks_sweep", tasks.callbacks_sweep, every_seconds=60)
        periodic_register("conversations.habits_refresh", tasks.habits_refresh, every_seconds=3600)
        periodic_register("conversations.health_sweep", tasks.health_sweep, every_seconds=5)
        from pocketdesk.conversations.panels import register_customer_panel

        register_customer_panel()
        console_nav_register(
            ConsoleNavItem(key="inbox", title=_("Inbox"), url_name="conversations:inbox", order=10)
        )
