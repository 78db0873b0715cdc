"""Account API: who am I, and personal access tokens."""

from typing import Any

from django.http import HttpRequest
from ninja import Router

from pocketdesk.accounts import selectors, services
from pocketdesk.accounts.auth import any_user_auth
from pocketdesk.accounts.models import ApiToken, User
from pocketdesk.accounts.schemas import ApiTokenCreatedOut, ApiTokenIn, ApiTokenOut, WhoAmIOut

router = Router(tags=["accounts"], auth=any_user_auth)


@router.get("/whoami", response=WhoAmIOut)
def whoami(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined,no-any-return]


@router.get("/tokens", response=list[ApiTokenOut])
def token_list(request: HttpRequest) -> list[ApiToken]:
    return list(selectors.api_token_list(actor=request.auth))  # type: ignore[attr-defined]


@router.post("/tokens", response={201: ApiTokenCreatedOut})
def token_create(request: HttpRequest, payload: ApiTokenIn) -> tuple[int, dict[str, Any]]:
    actor = request.auth  # type: ignore[attr-defined]
    token, secret = services.api_token_create(
        actor=actor, user=actor, name=payload.name, expires_at=payload.expires_at
    )
    return 201, {**ApiTokenOut.from_orm(token).dict(), "public_id": token.public_id, "secret": secret}


@router.delete("/tokens/{token_id}", response={204: None})
def token_revoke(request: HttpRequest, token_id: str) -> tuple[int, None]:
    services.api_token_revoke(actor=request.auth, token_id=token_id)  # type: ignore[attr-defined]
    return 204, None
