from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "pocketdesk.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from pocketdesk.core.schedule import periodic_register
        from pocketdesk.notifications import tasks

        periodic_register("notifications.due", tasks.notifications_due, every_seconds=5)
        from pocketdesk.notifications.home import register_home_section

        register_home_section()
