from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "pocketdesk.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from pocketdesk.core.schedule import periodic_register
        from pocketdesk.notifications import tasks

        periodic_register("notifications.due", tasks.notifications_due, every_seconds=5)
        periodic_register("notifications.reminders", tasks.reminders_due, every_seconds=60)
        # Receipts for the outbox rows notifications wrote move the notifications along.
        from pocketdesk.messaging.handlers import status_batch_handler_register
        from pocketdesk.notifications.services.receipts import notification_receipts

        status_batch_handler_register("notifications", notification_receipts)
        from pocketdesk.notifications.home import register_home_section
        from pocketdesk.notifications.panels import register_customer_panel

        register_home_section()
        register_customer_panel()
        # The console's notification settings and broadcasts.
        from django.utils.translation import gettext_lazy as _

        from pocketdesk.web.console_nav import ConsoleNavItem, console_nav_register

        console_nav_register(
            ConsoleNavItem(
                key="notifications",
                title=_("Notifications"),
                url_name="notifications:console-workflows",
                order=30,
            )
        )
