from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "pocketdesk.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from pocketdesk.core.schedule import periodic_register
        from pocketdesk.messaging.handlers import status_handler_register
        from pocketdesk.notifications import tasks
        from pocketdesk.notifications.services.receipts import notification_receipt

        periodic_register("notifications.due", tasks.notifications_due, every_seconds=5)
        # Receipts for the outbox rows notifications wrote move the notifications along.
        status_handler_register("notifications", notification_receipt)
        from pocketdesk.notifications.home import register_home_section

        register_home_section()
