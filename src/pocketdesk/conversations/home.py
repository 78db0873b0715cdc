"""The "Messages" section of the customer home: recent conversations and unread replies."""

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from pocketdesk.conversations.customer_selectors import customer_conversation_list
from pocketdesk.web.home import HomeSection, home_section_register

RECENT = 3


def _messages(request: HttpRequest, customer: Any) -> dict[str, Any]:
    # Shown even when empty: it is where a customer starts a conversation.
    conversations = list(customer_conversation_list(actor=request.user)[:RECENT])  # type: ignore[arg-type]
    return {"conversations": conversations}


def register_home_section() -> None:
    home_section_register(
        HomeSection(
            key="messages",
            title=_("Messages"),
            template="conversations/app/home_section.html",
            context=_messages,
            order=10,
        )
    )
