"""auth.selectors.user_principal: who a user is to the rules, found by id or email (the console's
rules simulator acts as them), for the service role and staff only."""

from __future__ import annotations

import pytest

from auth import selectors
from baas.errors import NotFound, PermissionDenied
from baas.principals import Principal, staff_principal

pytestmark = pytest.mark.django_db

STAFF = staff_principal(user_id="1", email="ops@example.com")


def test_a_user_is_found_by_id_or_by_email_in_any_case_with_their_claims(alice, service_api):
    user_id = alice["user"]["id"]
    response = service_api.patch(f"/v1/admin/users/{user_id}", {"claims": {"editor": True}}, format="json")
    assert response.status_code == 200, response.content
    by_id = selectors.user_principal(principal=STAFF, user=user_id)
    by_email = selectors.user_principal(principal=STAFF, user=" ALICE@example.com ")
    assert by_id == by_email
    assert by_id.rules_context() == {
        "id": user_id,
        "email": "alice@example.com",
        "role": "user",
        "claims": {"editor": True},
    }


def test_nobody_else_may_look_and_a_stranger_is_404(alice):
    with pytest.raises(NotFound):
        selectors.user_principal(principal=STAFF, user="nobody@example.com")
    with pytest.raises(NotFound):
        selectors.user_principal(principal=STAFF, user="not-an-id")
    user = Principal(kind="user", id=alice["user"]["id"], role="user")
    with pytest.raises(PermissionDenied):
        selectors.user_principal(principal=user, user="alice@example.com")
