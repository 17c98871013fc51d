"""The auth service's writes and credential checks, for views, commands and other apps.

Service keys live here; users (and operators) live in `auth.users` and sessions in
`auth.sessions`, re-exported below so that callers import one module. Reads that enforce the
caller's rights are `auth.selectors`. `authenticate_token` serves the transports that do not go
through DRF (websockets).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from auth import remembered, tokens
from auth.limits import Client, check_not_locked, clear_login_failures, record_login_failure
from auth.models import ServiceKey
from auth.sessions import (
    CREDENTIALS_TOPIC,
    SESSION_ENDED,
    AccessTokenCheck,
    SignedIn,
    TokenPair,
    access_token_check,
    announce_ended_credentials,
    authenticate_access_token,
    logout,
    principal_of_check,
    refresh_session,
)
from auth.users import (
    admin_create_user,
    admin_delete_user,
    admin_revoke_sessions,
    admin_update_user,
    confirm_recovery,
    create_admin,
    request_recovery,
    request_verification,
    sign_in,
    sign_in_anonymously,
    signup,
    staff_sign_in,
    update_current_user,
    verify_email,
)
from baas import audit
from baas.errors import Conflict, NotFound, TokenInvalid, field_error
from baas.principals import Principal, service_principal
from baas.rows import prepared_cursor

__all__ = [
    "CREDENTIALS_TOPIC",
    "SESSION_ENDED",
    "AccessTokenCheck",
    "Client",
    "SignedIn",
    "TokenPair",
    "access_token_check",
    "admin_create_user",
    "admin_delete_user",
    "admin_revoke_sessions",
    "admin_update_user",
    "authenticate_access_token",
    "authenticate_service_key",
    "authenticate_token",
    "check_not_locked",
    "clear_login_failures",
    "confirm_recovery",
    "create_admin",
    "create_bootstrap_key",
    "create_service_key",
    "logout",
    "looks_like_service_key",
    "record_login_failure",
    "refresh_session",
    "request_recovery",
    "request_verification",
    "revoke_service_key",
    "sign_in",
    "sign_in_anonymously",
    "signup",
    "staff_sign_in",
    "update_current_user",
    "verify_email",
]

SERVICE_KEY_PREFIX = "baas_sk_"
BOOTSTRAP_KEY_NAME = "default"
_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")
# Recording last use on every request would turn each read into a write; once a minute is enough.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _validate_key_name(name: Any) -> str:
    if not isinstance(name, str) or not _KEY_NAME.match(name):
        raise field_error(
            "name", "invalid", "Use 1 to 100 letters, digits, spaces, '_', '.' or '-', starting with a letter or digit."
        )
    return name


def create_service_key(*, name: str, role: str = "service", actor: Principal | None = None) -> tuple[ServiceKey, str]:
    """Create a key and return it with its secret. The secret is never retrievable again."""
    name = _validate_key_name(name)
    if role != "service":
        raise field_error("role", "invalid_choice", 'role must be "service".')
    secret = SERVICE_KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            key = ServiceKey.objects.create(
                name=name,
                role=role,
                prefix=secret[: len(SERVICE_KEY_PREFIX) + 6],
                key_hash=_hash_secret(secret),
            )
            audit.record(actor=actor, action="key.create", target=f"key:{key.id}", after=_audited_key(key))
    except IntegrityError:
        raise Conflict(f"An active key named {name!r} exists already.", details={"name": name}) from None
    return key, secret


def _audited_key(key: ServiceKey) -> dict[str, Any]:
    """What the audit log keeps of a key: never its secret or hash."""
    return {"name": key.name, "role": key.role, "prefix": key.prefix}


def revoke_service_key(
    *, key_id: str | None = None, name: str | None = None, actor: Principal | None = None
) -> ServiceKey:
    keys = ServiceKey.objects.filter(revoked_at__isnull=True)
    try:
        key = keys.get(id=key_id) if key_id is not None else keys.get(name=name)
    except (ServiceKey.DoesNotExist, DjangoValidationError, ValueError):
        raise NotFound("No active service key has that id or name.") from None
    with transaction.atomic():
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        announce_ended_credentials([key.id], kind="service_key", reason="revoked")
        audit.record(actor=actor, action="key.revoke", target=f"key:{key.id}", before=_audited_key(key))
    return key


def authenticate_service_key(secret: str) -> Principal | None:
    """The principal of a valid, unrevoked key; None when the secret matches no active key."""
    # Every service-key request runs this: plain SQL costs a fifth of the ORM's query building.
    check = service_key_check(secret)
    with prepared_cursor(connection) as cursor:
        cursor.execute(check.sql, check.params)
        found = cursor.fetchone()
    return None if found is None else check.principal(found)


def principal_of_bearer_check(check: ServiceKeyCheck | AccessTokenCheck) -> Principal:
    """The principal of a pending service-key or access-token check, run on its own; raises
    AuthenticationFailed-equivalent errors as the authentication classes do (see `refused`)."""
    if isinstance(check, ServiceKeyCheck):
        with prepared_cursor(connection) as cursor:
            cursor.execute(check.sql, check.params)
            found = cursor.fetchone()
        if found is None:
            raise TokenInvalid(SERVICE_KEY_REFUSED)
        return check.principal(found)
    return principal_of_check(check)


SERVICE_KEY_REFUSED = "This service key is unknown or revoked."


@dataclass(frozen=True)
class ServiceKeyCheck:
    """The check of a service key as a SELECT that a hot path can run inside its own statement
    (`WITH key AS (<sql>) …`), saving a round trip: one row of `columns` when the key is active,
    none otherwise. `principal(row)` turns that row into the caller's Principal."""

    sql: str
    params: list[Any]
    columns: int = 3

    def principal(self, row: Sequence[Any]) -> Principal:
        key_id, name, unused_for_a_while = row[: self.columns]
        if unused_for_a_while:  # last_used_at is kept to the minute, not written on every request
            ServiceKey.objects.filter(pk=key_id).update(last_used_at=timezone.now())
        known = remembered.recall(self._memory_key())
        if known is not None and known.row == (key_id, name):
            return known.principal
        principal = service_principal(key_id=str(uuid.UUID(str(key_id))), name=name)
        remembered.remember(
            self._memory_key(),
            remembered.Remembered(
                principal, _SAME_KEY, (key_id, name), (key_id, name), remembered.credential_cte(self.sql, self.columns)
            ),
        )
        return principal

    def recalled(self) -> remembered.Remembered | None:
        """The principal this process last found for this key (see auth/remembered.py)."""
        return remembered.recall(self._memory_key())

    def _memory_key(self) -> tuple[Any, ...]:
        return ("key", self.params[1])  # the secret's hash (the first parameter is a time)


def service_key_check(secret: str) -> ServiceKeyCheck:
    stale_before = connection.ops.adapt_datetimefield_value(timezone.now() - _LAST_USED_RESOLUTION)
    return ServiceKeyCheck(sql=_ACTIVE_KEY_SQL, params=[stale_before, _hash_secret(secret)])


_ACTIVE_KEY_SQL = (
    "SELECT id, name, (last_used_at IS NULL OR last_used_at < %s) AS unused_for_a_while "
    f'FROM "{ServiceKey._meta.db_table}" WHERE key_hash = %s AND revoked_at IS NULL'
)


# Over that check's row as `auth.remembered.credential_cte` names its columns: the same key and name,
# and its last use recent (else the check's caller writes last_used_at: the statement writes nothing).
_SAME_KEY = "c0 = %s AND c1 = %s AND NOT c2"


def looks_like_service_key(token: str) -> bool:
    return token.startswith(SERVICE_KEY_PREFIX)


def create_bootstrap_key() -> str | None:
    """On a fresh installation (no active key yet), create the first key and return its secret."""
    with transaction.atomic():
        if ServiceKey.objects.filter(revoked_at__isnull=True).exists():
            return None
        _, secret = create_service_key(name=BOOTSTRAP_KEY_NAME)
    return secret


def authenticate_token(token: str) -> Principal:
    """The principal of a raw bearer token — a user's access JWT or a service key — for callers
    outside DRF (the realtime websocket). Raises TokenInvalid / TokenExpired; never returns the
    anonymous principal. Costs one indexed query, like an HTTP request.
    """
    if looks_like_service_key(token):
        principal = authenticate_service_key(token)
        if principal is None:
            raise TokenInvalid("This service key is unknown or revoked.")
        return principal
    if tokens.looks_like_jwt(token):
        return authenticate_access_token(token)[1]
    raise TokenInvalid()


def token_expiry(token: str) -> datetime | None:
    """When an already authenticated token stops being valid: an access JWT's `exp`; None for
    service keys, which do not expire. Call only after `authenticate_token` accepted the token."""
    if looks_like_service_key(token):
        return None
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    return datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
