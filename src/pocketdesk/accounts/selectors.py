"""Account reads, scoped by the acting user."""

from django.db.models import QuerySet

from pocketdesk.accounts.models import ApiToken, User


def api_token_list(*, actor: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=actor).order_by("-created_at")
