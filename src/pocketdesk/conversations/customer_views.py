"""The customer's chat pages in the app: their conversations, and a thread with its composer and
a "Call me back" form. The pages work without JavaScript (the forms post); chat.js makes them
live."""

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from pocketdesk.accounts.models import Role, User
from pocketdesk.conversations import customer_selectors as selectors
from pocketdesk.conversations.models import Conversation
from pocketdesk.conversations.services import webchat as services
from pocketdesk.core.errors import DomainError, NotFound
from pocketdesk.web.views import require_role

LIST_LIMIT = 50


def _customer(request: HttpRequest) -> User:
    return require_role(request, {Role.CUSTOMER})


@login_required
def conversation_list(request: HttpRequest) -> HttpResponse:
    actor = _customer(request)
    conversations = list(selectors.customer_conversation_list(actor=actor)[:LIST_LIMIT])
    return render(request, "conversations/app/list.html", {"conversations": conversations})


def _thread(
    request: HttpRequest, actor: User, conversation: Conversation | None, *, error: str = ""
) -> HttpResponse:
    messages = []
    if conversation is not None:
        services.customer_conversation_delivered(actor=actor, conversation=conversation)
        messages = selectors.customer_message_list(actor=actor, conversation=conversation)
    # Which form the error belongs to: the composer's, or the "Call me back" form's.
    callback = request.POST.get("kind") == services.CALLBACK_REQUEST
    context = {
        "conversation": conversation,
        "messages": messages,
        # The no-JavaScript forms' ids: a double submit stores the message once.
        "client_id": str(uuid.uuid4()),
        "callback_client_id": str(uuid.uuid4()),
        "error": error if not callback else "",
        "text": request.POST.get("text", "") if error and not callback else "",
        "callback_error": error if callback else "",
        "callback_text": request.POST.get("text", "") if error and callback else "",
    }
    return render(request, "conversations/app/thread.html", context, status=422 if error else 200)


def _post(request: HttpRequest, actor: User, conversation: Conversation | None) -> HttpResponse:
    try:
        message, _ = services.customer_message_post(
            actor=actor,
            conversation=conversation,
            text=request.POST.get("text", ""),
            client_id=request.POST.get("client_id", ""),
            kind=request.POST.get("kind") or services.TEXT,
        )
    except DomainError as error:
        return _thread(request, actor, conversation, error=error.detail)
    return redirect("conversations:app-thread", public_id=message.conversation.public_id)


@login_required
@require_http_methods(["GET", "POST"])
def conversation_new(request: HttpRequest) -> HttpResponse:
    actor = _customer(request)
    if request.method == "POST":
        return _post(request, actor, None)
    return _thread(request, actor, None)


@login_required
@require_http_methods(["GET", "POST"])
def conversation_thread(request: HttpRequest, public_id: str) -> HttpResponse:
    actor = _customer(request)
    try:
        conversation = selectors.customer_conversation_get(actor=actor, public_id=public_id)
    except NotFound:
        return render(request, "web/not_found.html", status=404)
    if request.method == "POST":
        return _post(request, actor, conversation)
    return _thread(request, actor, conversation)
