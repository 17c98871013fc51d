"""auth/selectors.py: reads that enforce the caller's rights, whoever calls them (a view, a
command, another app) — not only behind the views' permission classes."""

from __future__ import annotations

import pytest

from auth import selectors
from baas.errors import NotAuthenticated, NotFound, PermissionDenied
from baas.principals import ANONYMOUS, Principal, function_principal, service_principal, staff_principal

pytestmark = pytest.mark.django_db


def user_principal(user: dict, *, session: str | None = "s1") -> Principal:  # type: ignore[type-arg]
    return Principal(kind="user", id=user["user"]["id"], role="user", credential_id=session)


def admin_reads(principal: Principal, user_id: str) -> list:  # type: ignore[type-arg]
    return [
        lambda: selectors.list_users(principal=principal),
        lambda: selectors.access_user(principal=principal, user_id=user_id),
        lambda: selectors.list_service_keys(principal=principal),
    ]


def test_the_anonymous_caller_is_401_and_users_and_functions_are_403(alice, bob):
    refusals = [
        (ANONYMOUS, NotAuthenticated),
        (user_principal(alice), PermissionDenied),
        (user_principal(bob), PermissionDenied),
        (function_principal(function="f", version=1), PermissionDenied),
    ]
    for principal, refusal in refusals:
        for read in admin_reads(principal, alice["user"]["id"]):
            with pytest.raises(refusal):
                read()


def test_the_service_role_and_staff_read_users_and_keys(alice, service_key, staff_user):
    for principal in (
        service_principal(key_id="k", name="tests"),
        staff_principal(user_id=str(staff_user.id), email=staff_user.email),
    ):
        assert [str(u.id) for u in selectors.list_users(principal=principal, search="alice")] == [alice["user"]["id"]]
        assert str(selectors.access_user(principal=principal, user_id=alice["user"]["id"]).id) == alice["user"]["id"]
        assert [key.name for key in selectors.list_service_keys(principal=principal)] == ["tests"]
        for missing in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
            with pytest.raises(NotFound):
                selectors.access_user(principal=principal, user_id=missing)


def test_a_caller_reaches_only_its_own_user_and_session(alice, staff_user):
    assert selectors.own_user_id(user_principal(alice)) == alice["user"]["id"]
    assert selectors.own_session_id(user_principal(alice, session="s9")) == "s9"
    staff = staff_principal(user_id=str(staff_user.id), email=staff_user.email)
    assert selectors.own_user_id(staff) == str(staff_user.id)
    assert selectors.own_session_id(staff) is None  # the console's Django session is not an auth session
    with pytest.raises(NotAuthenticated):
        selectors.own_user_id(ANONYMOUS)
    with pytest.raises(PermissionDenied):
        selectors.own_user_id(service_principal(key_id="k", name="tests"))
