from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _


def _preferences_section(request: HttpRequest, customer: Any) -> dict[str, Any]:
    windows = list(customer.send_windows.all())
    # Quiet hours are shown as the gap around one daily window (the settings page's model).
    quiet = (windows[0].ends_at, windows[0].starts_at) if windows else None
    names = dict(settings.LANGUAGES)
    return {
        "language_name": names.get(customer.language, customer.language),
        "time_zone": customer.time_zone,
        "quiet": quiet,
    }


class WebConfig(AppConfig):
    name = "pocketdesk.web"
    label = "web"
    verbose_name = "Web"

    def ready(self) -> None:
        from pocketdesk.web.console_nav import ConsoleNavItem, console_nav_register
        from pocketdesk.web.home import HomeSection, home_section_register

        console_nav_register(
            ConsoleNavItem(key="customers", title=_("Customers"), url_name="web:console", order=10)
        )

        home_section_register(
            HomeSection(
                key="preferences",
                title=_("Your preferences"),
                template="web/home_preferences.html",
                context=_preferences_section,
                order=90,
            )
        )
