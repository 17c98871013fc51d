"""Sessions (refresh-token families): start, rotate with reuse detection, revoke, and the check of
an access token on every authenticated request.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from auth import limits, tokens
from auth.limits import Client
from auth.models import Session, User
from baas.errors import NotAuthenticated, TokenInvalid
from baas.principals import Principal

logger = logging.getLogger("baas.auth")


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    session_id: str


@dataclass(frozen=True)
class SignedIn:
    user: User
    access: str
    refresh: str


def start_session(*, user: User, client: Client) -> TokenPair:
    """Open a new session for `user` and issue its first token pair (inside the caller's transaction)."""
    now = timezone.now()
    session = Session.objects.create(
        user=user,
        refresh_jti=tokens.new_jti(),
        expires_at=now + tokens.refresh_lifetime(),
        ip=client.ip,
        user_agent=client.user_agent[:256],
    )
    return _pair(user=user, session=session)


def _pair(*, user: User, session: Session) -> TokenPair:
    return TokenPair(
        access=tokens.issue_access(user=user, session_id=str(session.id)),
        refresh=tokens.issue_refresh(user_id=str(user.id), session_id=str(session.id), jti=session.refresh_jti),
        session_id=str(session.id),
    )


def signed_in(*, user: User, client: Client) -> SignedIn:
    pair = start_session(user=user, client=client)
    return SignedIn(user=user, access=pair.access, refresh=pair.refresh)


def _session_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise TokenInvalid() from None


def refresh_session(*, refresh: str, client: Client) -> TokenPair:
    """Rotate: the presented refresh token must be its family's newest; it is replaced by a new one.

    Presenting an older generation means the token leaked or a client misbehaves: the whole
    session is revoked (committed) and the call fails with token_invalid.
    """
    claims = tokens.decode_refresh(refresh)
    limits.check("refresh", client=client, account=claims.session_id)
    session_id = _session_uuid(claims.session_id)
    now = timezone.now()
    grace = settings.AUTH_REFRESH_REUSE_GRACE_SECONDS
    reused = False
    with transaction.atomic():
        session = (
            Session.objects.select_for_update()
            .select_related("user")
            .filter(pk=session_id, user_id=claims.user_id)
            .first()
        )
        if session is None or session.revoked_at is not None or session.expires_at <= now:
            raise TokenInvalid("This session has ended; sign in again.")
        user = session.user
        if user.disabled:
            raise TokenInvalid("This account is disabled.")
        if claims.jti == session.refresh_jti:
            session.previous_jti = session.refresh_jti
            session.refresh_jti = tokens.new_jti()
            session.rotated_at = now
            session.expires_at = now + tokens.refresh_lifetime()
            session.save(update_fields=["previous_jti", "refresh_jti", "rotated_at", "expires_at"])
        elif (
            grace
            and claims.jti == session.previous_jti
            and session.rotated_at is not None
            and (now - session.rotated_at).total_seconds() <= grace
        ):
            pass  # a racing duplicate of the last refresh: hand out the current generation again
        else:
            session.revoked_at = now
            session.revoked_reason = "reuse"
            session.save(update_fields=["revoked_at", "revoked_reason"])
            reused = True
    if reused:
        logger.warning(
            "refresh token reuse: session revoked",
            extra={"session_id": str(session.id), "user_id": str(session.user_id)},
        )
        raise TokenInvalid("This refresh token was already used; the session has been ended.")
    return _pair(user=user, session=session)


def revoke_session(*, session_id: str, user_id: str, reason: str = "logout") -> None:
    Session.objects.filter(pk=_session_uuid(session_id), user_id=user_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason
    )


def revoke_all_sessions(*, user_id: str, reason: str, keep_session_id: str | None = None) -> int:
    """End every open session of the user (but `keep_session_id`); returns how many."""
    sessions = Session.objects.filter(user_id=user_id, revoked_at__isnull=True)
    if keep_session_id is not None:
        sessions = sessions.exclude(pk=keep_session_id)
    return sessions.update(revoked_at=timezone.now(), revoked_reason=reason)


def logout(*, refresh: str | None, session_id: str | None, everywhere: bool) -> None:
    """End the session of `refresh` (or of the calling access token's `session_id`), or all of
    the user's sessions with `everywhere`. A rotated token of the family still ends its family.
    """
    if refresh is not None:
        claims = tokens.decode_refresh(refresh)
        session_id, user_id = claims.session_id, claims.user_id
    elif session_id is not None:
        user_id = str(Session.objects.filter(pk=session_id).values_list("user_id", flat=True).first() or "")
    else:
        raise NotAuthenticated("Send the session's refresh token, or its access token, to sign out.")
    if everywhere:
        revoke_all_sessions(user_id=user_id, reason="logout_all")
    else:
        revoke_session(session_id=session_id, user_id=user_id, reason="logout")


def authenticate_access_token(raw: str) -> tuple[User, Principal]:
    """The user and principal of a valid access token whose session is open and user enabled.

    One indexed query (session joined to its user) per call: revocation, disabling and deletion
    take effect on the next request, and role/claims/email are read fresh from the database.
    """
    claims = tokens.decode_access(raw)
    try:
        session = (
            Session.objects.select_related("user")
            .filter(pk=_session_uuid(claims.session_id), user_id=claims.user_id)
            .first()
        )
    except DjangoValidationError:
        raise TokenInvalid() from None
    if session is None or session.revoked_at is not None:
        raise TokenInvalid("This session has ended; sign in again.")
    user = session.user
    if user.disabled:
        raise TokenInvalid("This account is disabled.")
    principal = Principal(
        kind="user",
        id=str(user.id),
        email=user.email,
        role=tokens.role_of(user),
        claims=dict(user.claims or {}),
        credential_id=str(session.id),
    )
    return user, principal
