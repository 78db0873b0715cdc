"""The REST API under /api/v1/: one router per app, errors mapped once."""

from ninja import NinjaAPI

from pocketdesk.accounts.api import router as accounts_router
from pocketdesk.catalog.api import me_router as catalog_me_router
from pocketdesk.catalog.api import router as catalog_router
from pocketdesk.conversations.api import callbacks_router
from pocketdesk.conversations.api import router as conversations_router
from pocketdesk.conversations.me_api import router as conversations_me_router
from pocketdesk.core.api import install_error_handlers
from pocketdesk.customers.api import me_router as customers_me_router
from pocketdesk.customers.api import router as customers_router
from pocketdesk.links.api import router as links_router
from pocketdesk.messaging.api import router as channels_router
from pocketdesk.notifications.api import events_router
from pocketdesk.notifications.api import router as notifications_router
from pocketdesk.notifications.config_api import router as notifications_config_router
from pocketdesk.notifications.reminders_api import router as reminders_router

api = NinjaAPI(
    title="pocketdesk API",
    version="1",
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_error_handlers(api)
api.add_router("/me", customers_me_router)
api.add_router("/me/registrations", catalog_me_router)
api.add_router("/me/conversations", conversations_me_router)
api.add_router("/customers", customers_router)
api.add_router("/conversations", conversations_router)
api.add_router("/callbacks", callbacks_router)
api.add_router("/catalog", catalog_router)
api.add_router("/accounts", accounts_router)
api.add_router("/links", links_router)
api.add_router("/channels", channels_router)
api.add_router("/notifications", notifications_router)
api.add_router("/events", events_router)
api.add_router("/notifications", notifications_config_router)
api.add_router("/notifications", reminders_router)
