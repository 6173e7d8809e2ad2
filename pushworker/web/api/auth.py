"""Who may call the device API: the shop's backend with the API token, or a logged-in user.

The backend authenticates with ``Authorization: Bearer <PUSHWORKER_API_TOKEN>`` and acts for any
user. In a host project the host's session login applies too: a user manages only their own
devices (``user_id`` is their primary key), staff manage anyone's.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

TOKEN_UNSET = (
    "the device API is closed: PUSHWORKER_API_TOKEN is not set on this server, "
    "so no bearer token is accepted"
)
CREDENTIALS_MISSING = (
    "authentication required: send 'Authorization: Bearer <PUSHWORKER_API_TOKEN>', "
    "or call with a logged-in session"
)


def configured_token() -> str:
    """The API token of this process ('' when unset); read per call so tests can change it."""
    return str(getattr(settings, "PUSHWORKER_API_TOKEN", "") or "")


class ServiceCaller:
    """The shop's backend, authenticated by the token: it registers devices for any user."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    pk = None

    def __str__(self) -> str:
        return "API token caller"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` against PUSHWORKER_API_TOKEN, compared in constant time."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ServiceCaller, None] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # not ours: the session (or nothing) decides
        token = configured_token()
        if not token:
            raise exceptions.AuthenticationFailed(TOKEN_UNSET)
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "malformed header: 'Authorization: Bearer <token>'"
            )
        if not hmac.compare_digest(header[1], token.encode()):
            raise exceptions.AuthenticationFailed("invalid API token")
        return ServiceCaller(), None

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with this challenge) rather than 403 to an unauthenticated call.
        return f'{self.keyword} realm="pushworker"'


class Authenticated(permissions.BasePermission):
    """Refuses anonymous calls with a message that says what to send (or that the API is closed)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.user and request.user.is_authenticated:
            return True
        raise exceptions.NotAuthenticated(
            CREDENTIALS_MISSING if configured_token() else f"{CREDENTIALS_MISSING}; {TOKEN_UNSET}"
        )


def may_act_for(request: Request, user_id: str) -> bool:
    """The token caller and staff act for anyone; a user only for themselves."""
    user = request.user
    if isinstance(user, ServiceCaller) or getattr(user, "is_staff", False):
        return True
    return str(user.pk) == user_id


def require_acting_for(request: Request, user_id: str) -> None:
    """Raise 403 unless the caller may manage ``user_id``'s devices."""
    if not may_act_for(request, user_id):
        raise exceptions.PermissionDenied(
            f"user {request.user.pk} may not manage the devices of user {user_id}"
        )


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describes the bearer token in the OpenAPI document."""

    target_class = BearerTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "PUSHWORKER_API_TOKEN of the pushworker service",
        }
