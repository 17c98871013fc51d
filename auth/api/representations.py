"""What the auth API answers: the user, the admin's view of a user, a signed-in session, a token
pair and a service key — each built by one function here, beside the OpenAPI schema that
declares it (tests/auth/test_representations.py holds each function to its schema's properties).

Times are `baas.timestamps.rfc3339` (UTC, microseconds, `Z`), like every other resource.
"""

from __future__ import annotations

from typing import Any

from auth.models import ServiceKey, User
from auth.sessions import SignedIn, TokenPair
from baas.openapi import BOOLEAN, JSON_OBJECT, STRING, TIMESTAMP, component, nullable, obj, page_of
from baas.timestamps import rfc3339

UUID_STRING: dict[str, Any] = {"type": "string", "format": "uuid"}
EMAIL: dict[str, Any] = {"type": "string", "format": "email"}

# --- users -----------------------------------------------------------------------------------------

USER_FIELDS: dict[str, Any] = {
    "id": UUID_STRING,
    "email": nullable(EMAIL),
    "is_anonymous": BOOLEAN,
    "email_verified": BOOLEAN,
    "data": {**JSON_OBJECT, "description": "User-editable profile data."},
    "claims": {**JSON_OBJECT, "description": "Set by admins; in the access token."},
    "created_at": TIMESTAMP,
}
USER = component("User", obj(**USER_FIELDS))


def user(user_: User) -> dict[str, Any]:
    """The user object of API.md, as the user itself and every app sees it."""
    return {
        "id": str(user_.id),
        "email": user_.email,
        "is_anonymous": user_.anonymous,
        "email_verified": user_.email_verified,
        "data": user_.data,
        "claims": user_.claims,
        "created_at": rfc3339(user_.created_at),
    }


PENDING_EMAIL_USER = component(
    "PendingEmailUser",
    {
        **obj(**USER_FIELDS, pending_email=EMAIL),
        "description": "The user (address unchanged) and the new address waiting for confirmation.",
    },
)


def pending_email_user(user_: User, pending_email: str) -> dict[str, Any]:
    return {**user(user_), "pending_email": pending_email}


ADMIN_USER_FIELDS: dict[str, Any] = {
    **USER_FIELDS,
    "disabled": BOOLEAN,
    "updated_at": TIMESTAMP,
    "last_sign_in_at": nullable(TIMESTAMP),
}
ADMIN_USER = component("AdminUser", obj(**ADMIN_USER_FIELDS))
ADMIN_USER_PAGE = component("AdminUserPage", page_of(ADMIN_USER))


def admin_user(user_: User) -> dict[str, Any]:
    """The user as the service role and staff see it: also disabled, updated_at, last_sign_in_at."""
    return {
        **user(user_),
        "disabled": user_.disabled,
        "updated_at": rfc3339(user_.updated_at),
        "last_sign_in_at": rfc3339(user_.last_login),
    }


# --- sessions --------------------------------------------------------------------------------------

ACCESS = {"type": "string", "description": "Access JWT; send as `Authorization: Bearer …`."}
REFRESH = {"type": "string", "description": "Refresh token; single use, rotates."}
SESSION = component("Session", obj(user=USER, access=ACCESS, refresh=REFRESH))
TOKEN_PAIR = component("TokenPair", obj(access=ACCESS, refresh=REFRESH))


def session(signed_in: SignedIn) -> dict[str, Any]:
    """A new session: the user and its first token pair."""
    return {"user": user(signed_in.user), "access": signed_in.access, "refresh": signed_in.refresh}


def token_pair(pair: TokenPair) -> dict[str, Any]:
    return {"access": pair.access, "refresh": pair.refresh}


# --- service keys ----------------------------------------------------------------------------------

SERVICE_KEY_FIELDS: dict[str, Any] = {
    "id": UUID_STRING,
    "name": STRING,
    "role": STRING,
    "prefix": {"type": "string", "description": "The first characters of the secret, to recognise it."},
    "created_at": TIMESTAMP,
    "last_used_at": nullable(TIMESTAMP),
}
SERVICE_KEY = component("ServiceKey", obj(**SERVICE_KEY_FIELDS))
SERVICE_KEY_PAGE = component("ServiceKeyPage", page_of(SERVICE_KEY))
CREATED_SERVICE_KEY = component(
    "CreatedServiceKey",
    obj(**SERVICE_KEY_FIELDS, secret={"type": "string", "description": "Shown once; store it now."}),
)


def service_key(key: ServiceKey) -> dict[str, Any]:
    """A key as listed: never its secret (only a hash of it is stored)."""
    return {
        "id": str(key.id),
        "name": key.name,
        "role": key.role,
        "prefix": key.prefix,
        "created_at": rfc3339(key.created_at),
        "last_used_at": rfc3339(key.last_used_at),
    }


def created_service_key(key: ServiceKey, secret: str) -> dict[str, Any]:
    """A key just created, with its secret: the one time the secret is shown."""
    return {**service_key(key), "secret": secret}
