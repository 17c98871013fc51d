"""GET and PATCH /v1/auth/user: the signed-in user."""

from __future__ import annotations

import pytest

from auth.models import User
from tests.auth.conftest import token_in
from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db


def test_get_answers_the_user_object(alice, alice_api):
    response = alice_api.get("/v1/auth/user")
    assert response.status_code == 200
    assert response.json() == alice["user"]


def test_each_user_sees_only_themselves(alice, bob, alice_api, bob_api):
    assert alice_api.get("/v1/auth/user").json()["id"] == alice["user"]["id"]
    assert bob_api.get("/v1/auth/user").json()["id"] == bob["user"]["id"]


def test_anonymous_callers_get_401(api, db):
    response = api.get("/v1/auth/user")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_service_key_has_no_current_user(service_api):
    assert service_api.get("/v1/auth/user").status_code == 403


def test_staff_in_the_console_see_their_own_account(staff_api, staff_user):
    assert staff_api.get("/v1/auth/user").json()["id"] == str(staff_user.id)


def test_patch_replaces_data(alice_api):
    alice_api.patch("/v1/auth/user", {"data": {"a": 1, "b": 2}}, format="json")
    response = alice_api.patch("/v1/auth/user", {"data": {"b": 3}}, format="json")
    assert response.status_code == 200
    assert response.json()["data"] == {"b": 3}


def test_changing_the_email_waits_for_the_new_address_to_confirm(api, alice, alice_api, outbox):
    User.objects.filter(pk=alice["user"]["id"]).update(email_verified=True)
    with outbox() as sent:
        response = alice_api.patch("/v1/auth/user", {"email": "alice.new@example.com"}, format="json")
    assert response.status_code == 202
    assert response.json()["email"] == "alice@example.com" and response.json()["email_verified"] is True
    assert response.json()["pending_email"] == "alice.new@example.com"
    confirmed = api.post("/v1/auth/verify", {"token": token_in(sent[0])}, format="json").json()
    assert confirmed["email"] == "alice.new@example.com" and confirmed["email_verified"] is True


def test_changing_the_password_ends_the_other_sessions_but_not_this_one(api, alice, alice_api):
    other = api.post("/v1/auth/token", {"email": "alice@example.com", "password": PASSWORD}, format="json").json()
    response = alice_api.patch("/v1/auth/user", {"password": "a brand new passphrase"}, format="json")
    assert response.status_code == 200
    assert alice_api.get("/v1/auth/user").status_code == 200
    assert bearer(other["access"]).get("/v1/auth/user").status_code == 401
    login = api.post(
        "/v1/auth/token", {"email": "alice@example.com", "password": "a brand new passphrase"}, format="json"
    )
    assert login.status_code == 200


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"claims": {"admin": True}}, "claims", "unknown_field"),
        ({"is_anonymous": True}, "is_anonymous", "unknown_field"),
        ({"email_verified": True}, "email_verified", "unknown_field"),
        ({"data": "text"}, "data", "not_a_dict"),
        ({"data": None}, "data", "null"),
        ({"email": "nope"}, "email", "invalid"),
        ({"password": "short"}, "password", "password_too_short"),
        ({"password": 123456789}, "password", "invalid"),
    ],
)
def test_bad_patches_are_400_and_write_nothing(alice, alice_api, payload, field, code):
    response = alice_api.patch("/v1/auth/user", payload, format="json")
    assert response.status_code == 400, response.content
    assert code in [item["code"] for item in response.json()["error"]["details"][field]]
    user = User.objects.get(pk=alice["user"]["id"])
    assert user.claims == {} and user.data == {} and user.check_password(PASSWORD)


def test_a_patch_that_fails_midway_writes_nothing(alice, alice_api):
    response = alice_api.patch("/v1/auth/user", {"data": {"x": 1}, "password": "short"}, format="json")
    assert response.status_code == 400
    assert User.objects.get(pk=alice["user"]["id"]).data == {}


def test_taking_another_users_email_is_answered_like_a_free_one(bob, alice_api, outbox):
    with outbox() as sent:
        response = alice_api.patch("/v1/auth/user", {"email": "BOB@example.com"}, format="json")
    assert response.status_code == 202
    assert response.json()["email"] == "alice@example.com"
    assert [m.to for m in sent] == [["bob@example.com"]] and "code in the app" not in sent[0].body


def test_a_disabled_user_is_refused_at_once(alice, alice_api, service_api):
    service_api.patch(f"/v1/admin/users/{alice['user']['id']}", {"disabled": True}, format="json")
    response = alice_api.get("/v1/auth/user")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_a_deleted_user_is_refused_at_once(alice, alice_api, service_api):
    service_api.delete(f"/v1/admin/users/{alice['user']['id']}")
    assert alice_api.get("/v1/auth/user").status_code == 401


def test_claims_set_by_an_admin_show_at_once(alice, alice_api, service_api):
    service_api.patch(f"/v1/admin/users/{alice['user']['id']}", {"claims": {"plan": "pro"}}, format="json")
    assert alice_api.get("/v1/auth/user").json()["claims"] == {"plan": "pro"}


def test_a_bearer_get_is_one_statement_with_the_answer_and_headers_of_drfs_dispatch(alice, alice_api, staff_api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        lean = alice_api.get("/v1/auth/user")  # the lean bearer path (auth/bearer_dispatch.py)
    assert lean.status_code == 200 and lean.json() == alice["user"]
    assert len(queries.captured_queries) == 1
    drf = staff_api.get("/v1/auth/user")  # a console session: DRF's own dispatch
    assert drf.status_code == 200
    for name in ("Content-Type", "Allow"):
        assert lean[name] == drf[name], name
    staff_api.credentials(HTTP_AUTHORIZATION=f"Bearer {alice['access']}")  # a bearer wins over the cookie
    assert staff_api.get("/v1/auth/user").json() == alice["user"]
