from django.apps import AppConfig


class LinksConfig(AppConfig):
    name = "pocketdesk.links"
    label = "links"
    verbose_name = "Links and QR codes"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from pocketdesk.links import views_public, visits
        from pocketdesk.web.console_nav import ConsoleNavItem, console_nav_register

        visits.install_shutdown_flush()
        views_public.register_link_types()
        console_nav_register(
            ConsoleNavItem(key="links", title=_("Links"), url_name="links:console-links", order=20)
        )
