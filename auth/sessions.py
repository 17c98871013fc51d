"""Sessions (refresh-token families): start, rotate with reuse detection, revoke, and the check of
an access token on every authenticated request.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from auth import limits, remembered, tokens
from auth.limits import Client
from auth.models import Session, User
from baas import events
from baas.errors import NotAuthenticated, TokenInvalid
from baas.principals import Principal
from baas.rows import json_value, lean_rows, prepared_cursor, raw_bool, raw_jsonb, raw_text

logger = logging.getLogger("baas.auth")

# Every ended credential (a session revoked, a service key revoked) is announced in the event log,
# in the transaction that ends it: ordered, lossless and read by every process, so realtime closes
# the websockets that use it within a second (docs/realtime.md, "Credentials"). Key: the session's
# or the key's id (Principal.credential_id); `before`: {"kind": "session" | "service_key", "reason"}.
CREDENTIALS_TOPIC = "auth/credentials"


def announce_ended_credentials(credential_ids: Iterable[Any], *, kind: str, reason: str) -> None:
    """Record that these credentials stopped being valid. Must run inside the transaction that
    ended them, as late in it as possible (the event log's append lock is held until commit)."""
    for credential_id in credential_ids:
        events.append(
            events.Change(
                topic=CREDENTIALS_TOPIC,
                kind=events.DELETED,
                key=str(credential_id),
                before={"kind": kind, "reason": reason},
                after=None,
                actor=None,
            )
        )


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


def _uuid_claim(value: str) -> uuid.UUID:
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
    session_id = _uuid_claim(claims.session_id)
    now = timezone.now()
    rotated = _rotate_in_one_statement(session_id, claims, now)
    if rotated is not None:
        return rotated
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
            announce_ended_credentials([session.id], kind="session", reason="reuse")
            reused = True
    if reused:
        logger.warning(
            "refresh token reuse: session revoked",
            extra={"session_id": str(session.id), "user_id": str(session.user_id)},
        )
        raise TokenInvalid("This refresh token was already used; the session has been ended.")
    return _pair(user=user, session=session)


# The common refresh — the family's newest token, an open session of an enabled user — as one
# statement: the session row is rotated in place (the UPDATE locks it, as select_for_update did) and
# the user's fields the new access token carries come back with it. Any other case (an ended
# session, a disabled user, a reuse, the grace window) updates nothing here and takes the
# transaction below, which decides it as before.
_ROTATE_SQL = (
    f'UPDATE "{Session._meta.db_table}" s SET "previous_jti" = s."refresh_jti", "refresh_jti" = %s, '
    '"rotated_at" = %s, "expires_at" = %s '
    f'FROM "{User._meta.db_table}" u '
    'WHERE s."id" = %s AND s."user_id" = %s AND u."id" = s."user_id" AND s."refresh_jti" = %s '
    'AND s."revoked_at" IS NULL AND s."expires_at" > %s AND NOT u."disabled" '
    'RETURNING u."anonymous", u."email", u."claims"'
)


@dataclass(frozen=True)
class _TokenUser:
    """What an access token says of its user (`tokens.issue_access`)."""

    id: str
    anonymous: bool
    email: str | None
    claims: dict[str, Any]


def _rotate_in_one_statement(session_id: uuid.UUID, claims: tokens.RefreshClaims, now: Any) -> TokenPair | None:
    """The rotation of the newest refresh token of an open session on PostgreSQL, outside a
    transaction: one statement, its own transaction. None: not that case (or not here)."""
    db = connections[router.db_for_write(Session)]
    if db.vendor != "postgresql" or db.in_atomic_block:
        return None
    try:
        user_id = uuid.UUID(claims.user_id)
    except ValueError:
        return None
    new_jti = tokens.new_jti()
    rows = lean_rows(
        db, _ROTATE_SQL, [new_jti, now, now + tokens.refresh_lifetime(), session_id, user_id, claims.jti, now]
    )
    if not rows:
        return None
    anonymous, email, user_claims = rows[0]
    user_text, session_text = str(user_id), str(session_id)  # (canonical forms, made once)
    user = _TokenUser(
        id=user_text,
        anonymous=bool(raw_bool(anonymous)),
        email=raw_text(email),
        claims=json_value(raw_jsonb(user_claims)) or {},
    )
    return TokenPair(
        access=tokens.issue_access(user=user, session_id=session_text),
        refresh=tokens.issue_refresh(user_id=user_text, session_id=session_text, jti=new_jti),
        session_id=session_text,
    )


def revoke_session(*, session_id: str, user_id: str, reason: str = "logout") -> None:
    session_pk = _uuid_claim(session_id)
    with transaction.atomic():
        ended = Session.objects.filter(pk=session_pk, user_id=user_id, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_reason=reason
        )
        if ended:
            announce_ended_credentials([session_pk], kind="session", reason=reason)


def revoke_all_sessions(*, user_id: str, reason: str, keep_session_id: str | None = None) -> int:
    """End every open session of the user (but `keep_session_id`); returns how many."""
    sessions = Session.objects.filter(user_id=user_id, revoked_at__isnull=True)
    if keep_session_id is not None:
        sessions = sessions.exclude(pk=keep_session_id)
    with transaction.atomic():
        ended = list(sessions.select_for_update().values_list("pk", flat=True))
        if not ended:
            return 0
        count = Session.objects.filter(pk__in=ended).update(revoked_at=timezone.now(), revoked_reason=reason)
        announce_ended_credentials(ended, kind="session", reason=reason)
    return count


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
    check = access_token_check(raw)
    db = connections[router.db_for_read(Session)]
    with prepared_cursor(db) as cursor:
        cursor.execute(check.sql, check.params)
        row = cursor.fetchone()
    if row is None:
        raise TokenInvalid(SESSION_ENDED)
    return check.user_and_principal(row)


def principal_of_check(check: AccessTokenCheck) -> Principal:
    """`authenticate_access_token`'s principal, for a caller that has no use for the User."""
    db = connections[router.db_for_read(Session)]
    with prepared_cursor(db) as cursor:
        cursor.execute(check.sql, check.params)
        row = cursor.fetchone()
    if row is None:
        raise TokenInvalid(SESSION_ENDED)
    return check.principal(row)


SESSION_ENDED = "This session has ended; sign in again."


@dataclass(frozen=True)
class AccessTokenCheck:
    """The session check of an already verified access token as a SELECT that a hot path can run
    inside its own statement (as `auth.services.ServiceKeyCheck`): one row of `columns` when the
    session is open, none otherwise (then the token is refused: SESSION_ENDED)."""

    sql: str
    params: list[Any]
    columns: int
    # Where `principal()` finds the user's fields in the row.
    user_columns: dict[str, int] = field(default_factory=lambda: _USER_COLUMN)

    def principal(self, row: Sequence[Any]) -> Principal:
        """The principal `user_and_principal` gives, read from the row's columns without building
        the User (no model instance, no converters): what a request needs that has no use for
        `request.user`. TokenInvalid when the user is disabled."""
        at = self.user_columns
        key = self._memory_key()
        if row[at["disabled"]]:
            remembered.forget(key)
            raise TokenInvalid("This account is disabled.")
        known = remembered.recall(key) if at is _PRINCIPAL_COLUMN else None
        if known is not None and known.row == tuple(row[: self.columns]):
            return known.principal
        claims = json_value(row[at["claims"]])
        principal = Principal(
            kind="user",
            id=_uuid_text(row[at["id"]]),
            email=row[at["email"]],
            role=tokens.ROLE_ANONYMOUS if row[at["anonymous"]] else tokens.ROLE_USER,
            claims=dict(claims or {}),
            credential_id=_uuid_text(row[0]),
        )
        if at is _PRINCIPAL_COLUMN:  # the row of `credential_cte`'s columns c0…c5
            db = connections[router.db_for_read(Session)]
            condition_params = (row[at["email"]], row[at["anonymous"]], db.ops.adapt_json_value(claims, None))
            remembered.remember(
                key,
                remembered.Remembered(
                    principal,
                    _SAME_PRINCIPAL,
                    condition_params,
                    tuple(row[: self.columns]),
                    remembered.credential_cte(self.sql, self.columns),
                ),
            )
        return principal

    def recalled(self) -> remembered.Remembered | None:
        """The principal this process last found for this session (see auth/remembered.py)."""
        if self.user_columns is not _PRINCIPAL_COLUMN:
            return None
        return remembered.recall(self._memory_key())

    def _memory_key(self) -> tuple[Any, ...]:
        return ("session", *self.params)

    def user_and_principal(self, row: Sequence[Any]) -> tuple[User, Principal]:
        """The session's user (a User as the ORM builds it) and principal; TokenInvalid when the
        user is disabled."""
        assert self.user_columns is _USER_COLUMN, "a principal-only check has no whole user"
        db = connections[router.db_for_read(Session)]
        values = list(row[: self.columns])
        for index, converters, column in _converters(db):
            for convert in converters:
                values[index] = convert(values[index], column, db)
        session_id, user = values[0], User.from_db(db.alias, None, values[1:])
        if user.disabled:
            raise TokenInvalid("This account is disabled.")
        principal = Principal(
            kind="user",
            id=str(user.id),
            email=user.email,
            role=tokens.role_of(user),
            claims=dict(user.claims or {}),
            credential_id=str(session_id),
        )
        return user, principal


def access_token_check(raw: str, *, principal_only: bool = False) -> AccessTokenCheck:
    """The pending session check of an access token; TokenInvalid / TokenExpired for a token that
    is not a valid one of ours (signature, expiry, issuer, type). `principal_only`: the row holds
    only what `principal()` reads (no `user_and_principal`)."""
    claims = tokens.decode_access(raw)
    db = connections[router.db_for_read(Session)]
    params = [
        _SESSION_ID_FIELD.get_db_prep_value(_uuid_claim(claims.session_id), db),
        _SESSION_USER_FIELD.get_db_prep_value(_uuid_claim(claims.user_id), db),
    ]
    if principal_only:
        return AccessTokenCheck(
            sql=_SESSION_PRINCIPAL_SQL,
            params=params,
            columns=1 + len(_PRINCIPAL_FIELDS),
            user_columns=_PRINCIPAL_COLUMN,
        )
    return AccessTokenCheck(sql=_SESSION_USER_SQL, params=params, columns=1 + len(_USER_FIELDS))


# Every request with an access token runs this check. Plain SQL costs a fraction of building the
# ORM's select_related query; the row becomes a User exactly as the ORM builds one (the same
# columns and the same database converters, then Model.from_db), so request.user is unchanged.
_USER_FIELDS = tuple(User._meta.concrete_fields)
_USER_COLUMNS = ", ".join(f'u."{field.column}"' for field in _USER_FIELDS)
_SESSION_USER_SQL = (
    f'SELECT s."id" AS session_id, {_USER_COLUMNS} '
    f'FROM "{Session._meta.db_table}" s JOIN "{User._meta.db_table}" u ON u."id" = s."user_id" '
    'WHERE s."id" = %s AND s."user_id" = %s AND s."revoked_at" IS NULL'
)
_SESSION_ID_FIELD = Session._meta.pk
# Where each of the user's fields is in a row of the check (the session's id comes first).
_USER_COLUMN: dict[str, int] = {field.name: 1 + index for index, field in enumerate(_USER_FIELDS)}
# The same check for a caller that needs the principal only: fewer columns to send and convert.
_PRINCIPAL_FIELDS = ("id", "email", "anonymous", "disabled", "claims")
_PRINCIPAL_COLUMN = {name: 1 + index for index, name in enumerate(_PRINCIPAL_FIELDS)}
_SESSION_PRINCIPAL_SQL = _SESSION_USER_SQL.replace(
    _USER_COLUMNS,
    ", ".join(f'u."{User._meta.get_field(name).column}"' for name in _PRINCIPAL_FIELDS),  # type: ignore[union-attr]
)
# Over that check's row as `auth.remembered.credential_cte` names its columns (c0 the session's id,
# c1… _PRINCIPAL_FIELDS): what the principal was built from is unchanged and the user enabled (the
# session's id and user are the check's own parameters).
_SAME_PRINCIPAL = "c2 IS NOT DISTINCT FROM %s AND c3 = %s AND NOT c4 AND c5 IS NOT DISTINCT FROM %s"
assert _PRINCIPAL_FIELDS == ("id", "email", "anonymous", "disabled", "claims")


def _uuid_text(value: Any) -> str:
    """A UUID column's value as text: PostgreSQL gives a UUID, SQLite the 32 hex digits Django stored."""
    return str(value) if isinstance(value, uuid.UUID) else str(uuid.UUID(value))


_SESSION_USER_FIELD = Session._meta.get_field("user")
_Converter = Callable[[Any, Any, Any], Any]
_converters_by_connection: WeakKeyDictionary[Any, list[tuple[int, list[_Converter], Any]]] = WeakKeyDictionary()


def _converters(db: Any) -> list[tuple[int, list[_Converter], Any]]:
    """The ORM's converters for each selected column on this connection (computed once)."""
    found = _converters_by_connection.get(db)
    if found is None:
        found = []
        for index, field in enumerate((_SESSION_ID_FIELD, *_USER_FIELDS)):
            column = field.get_col(field.model._meta.db_table)
            converters = db.ops.get_db_converters(column) + field.get_db_converters(db)
            if converters:
                found.append((index, converters, column))
        _converters_by_connection[db] = found
    return found
