"""Reads of the auth service that enforce the caller's rights.

Each function takes the caller's `Principal` and either answers what that caller may see or
raises: 401 `not_authenticated` for the anonymous principal, 403 `permission_denied` for a caller
without the right. Users and service keys are the administration's: only the service role and
staff list, search and fetch them. A signed-in user reaches only itself and its own session.

The functions without a principal (`active_service_keys`, `user_by_id`) are for callers that act
as the operator already: the `keys` command and the services, after the view checked the caller.
"""

from __future__ import annotations

import contextlib
import uuid

from django.db.models import Count, Q

from auth.models import ServiceKey, User
from baas.errors import NotAuthenticated, NotFound, PermissionDenied
from baas.principals import Principal

# The principals that administer users and keys (the views' ServiceOrStaff permission says the same).
ADMIN_KINDS = ("service", "staff")


def require_admin(principal: Principal) -> None:
    """Only the service role and staff pass: 401 for the anonymous principal, 403 for anyone else."""
    if principal.is_anonymous:
        raise NotAuthenticated()
    if principal.kind not in ADMIN_KINDS:
        raise PermissionDenied("Only the service role and staff administer users and keys.")


# --- the caller's own ------------------------------------------------------------------------------


def own_user_id(principal: Principal) -> str:
    """The id of the signed-in caller's own user (an app user, or staff in the console)."""
    if principal.is_anonymous:
        raise NotAuthenticated()
    if principal.kind not in ("user", "staff") or principal.id is None:
        raise PermissionDenied("Only a signed-in user has a current user.")
    return principal.id


def own_session_id(principal: Principal) -> str | None:
    """The session of the caller's access token; None for any other credential (a service key,
    the console's staff session)."""
    return principal.credential_id if principal.kind == "user" else None


# --- users -----------------------------------------------------------------------------------------


def _parse_user_id(user_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(user_id))
    except ValueError:
        raise NotFound("No user has this id.") from None


def user_by_id(user_id: str, *, lock: bool = False) -> User:
    """The user with this id (any spelling of a UUID), or 404. Checks no rights. `lock` takes the
    row lock (SELECT … FOR UPDATE): only inside the transaction that writes the user."""
    users = User.objects.select_for_update() if lock else User.objects
    user = users.filter(pk=_parse_user_id(user_id)).first()
    if user is None:
        raise NotFound("No user has this id.")
    return user


def access_user(*, principal: Principal, user_id: str) -> User:
    """A user, for the service role and staff."""
    require_admin(principal)
    return user_by_id(user_id)


def list_users(
    *, principal: Principal, search: str | None = None, after: tuple[str, str] | None = None, limit: int = 50
) -> list[User]:
    """Users oldest first, for the service role and staff: `limit + 1` rows after the (created_at,
    id) position; `search` matches part of the email, or the exact id."""
    require_admin(principal)
    users = User.objects.order_by("created_at", "id")
    if search:
        condition = Q(email__icontains=search.strip())
        with contextlib.suppress(ValueError):
            condition |= Q(pk=uuid.UUID(search.strip()))
        users = users.filter(condition)
    if after is not None:
        created_at, user_id = after
        users = users.filter(Q(created_at__gt=created_at) | Q(created_at=created_at, id__gt=user_id))
    return list(users[: limit + 1])


# --- service keys ----------------------------------------------------------------------------------


def active_service_keys(*, after: tuple[str, str] | None = None, limit: int = 50) -> list[ServiceKey]:
    """Active keys, oldest first, `limit + 1` rows after the (created_at, id) position. Checks no
    rights: for the `keys` command, which runs as the operator."""
    keys = ServiceKey.objects.filter(revoked_at__isnull=True).order_by("created_at", "id")
    if after is not None:
        created_at, key_id = after
        keys = keys.filter(Q(created_at__gt=created_at) | Q(created_at=created_at, id__gt=key_id))
    return list(keys[: limit + 1])


def list_service_keys(
    *, principal: Principal, after: tuple[str, str] | None = None, limit: int = 50
) -> list[ServiceKey]:
    """Active keys (`active_service_keys`), for the service role and staff."""
    require_admin(principal)
    return active_service_keys(after=after, limit=limit)


# --- who a user is to the rules ----------------------------------------------------------------------


def user_principal(*, principal: Principal, user: str) -> Principal:
    """The principal a user (by id, or by email in any case) signs in as: what the rules see of
    them. For the service role and staff (the console's rules simulator); 404 if there is none."""
    from auth.tokens import role_of

    require_admin(principal)
    reference = str(user).strip()
    found = User.objects.filter(email__iexact=reference).first() if "@" in reference else None
    if found is None:
        found = user_by_id(reference)
    return Principal(
        kind="user", id=str(found.id), email=found.email, role=role_of(found), claims=dict(found.claims or {})
    )


# --- figures for the console's overview -------------------------------------------------------------


def user_counts() -> dict[str, int]:
    """How many accounts exist: all of them, the disabled, the anonymous and the staff."""
    return User.objects.aggregate(
        total=Count("id"),
        disabled=Count("id", filter=Q(disabled=True)),
        anonymous=Count("id", filter=Q(anonymous=True)),
        staff=Count("id", filter=Q(is_staff=True)),
    )
