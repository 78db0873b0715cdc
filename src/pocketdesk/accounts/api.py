"""Account API: who am I, and personal access tokens."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from pocketdesk.accounts import selectors, services
from pocketdesk.accounts.auth import any_user_auth
from pocketdesk.accounts.models import ApiToken, User
from pocketdesk.accounts.schemas import ApiTokenCreatedOut, ApiTokenIn, ApiTokenOut, WhoAmIOut

router = Router(tags=["accounts"], auth=any_user_auth)


@router.get("/whoami", response=WhoAmIOut)
def whoami(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


@router.get("/tokens", response=list[ApiTokenOut])
def token_list(request: HttpRequest) -> list[ApiToken]:
    return list(selectors.api_token_list(actor=request.auth))  # type: ignore[attr-defined]


@router.post("/tokens", response={201: ApiTokenCreatedOut})
def token_create(
    request: HttpRequest, payload: ApiTokenIn, response: HttpResponse
) -> Status[dict[str, Any]]:
    """The secret is in this response only; it is never stored (not even for Idempotency-Key)."""
    actor = request.auth  # type: ignore[attr-defined]
    token, secret = services.api_token_create(
        actor=actor, user=actor, name=payload.name, expires_at=payload.expires_at
    )
    response["Cache-Control"] = "no-store"
    out = ApiTokenOut.from_orm(token).dict()
    return Status(201, {**out, "public_id": token.public_id, "secret": secret})


@router.delete("/tokens/{token_id}", response={204: None})
def token_revoke(request: HttpRequest, token_id: str) -> Status[None]:
    services.api_token_revoke(actor=request.auth, token_id=token_id)  # type: ignore[attr-defined]
    return Status(204, None)
