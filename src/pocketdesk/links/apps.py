from django.apps import AppConfig


class LinksConfig(AppConfig):
    name = "pocketdesk.links"
    label = "links"
    verbose_name = "Links and QR codes"

    def ready(self) -> None:
        from pocketdesk.links import visits

        visits.install_shutdown_flush()
