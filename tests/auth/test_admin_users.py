"""/v1/admin/users…: list with search and cursor, create, get, patch, delete, end sessions."""

from __future__ import annotations

import pytest

from auth.models import User
from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db

MISSING = "00000000-0000-0000-0000-000000000000"


def make_users(service_api, count):  # type: ignore[no-untyped-def]
    return [
        service_api.post("/v1/admin/users", {"email": f"user{index}@example.com"}, format="json").json()
        for index in range(count)
    ]


def test_create_answers_201_with_the_admin_view_of_the_user(service_api):
    response = service_api.post(
        "/v1/admin/users",
        {
            "email": "New@Example.com",
            "password": PASSWORD,
            "claims": {"role": "editor"},
            "email_verified": True,
        },
        format="json",
    )
    assert response.status_code == 201
    user = response.json()
    assert user["email"] == "new@example.com" and user["claims"] == {"role": "editor"}
    assert user["email_verified"] is True and user["disabled"] is False
    signed_in = service_api.post("/v1/auth/token", {"email": "new@example.com", "password": PASSWORD}, format="json")
    assert signed_in.status_code == 200
    assert signed_in.json()["user"]["claims"] == {"role": "editor"}


def test_a_user_created_without_password_cannot_sign_in_until_reset(service_api, api):
    service_api.post("/v1/admin/users", {"email": "nopass@example.com"}, format="json")
    assert not User.objects.get().has_usable_password()
    response = api.post("/v1/auth/token", {"email": "nopass@example.com", "password": PASSWORD}, format="json")
    assert response.status_code == 401


def test_create_with_a_taken_email_is_409(service_api, alice):
    response = service_api.post("/v1/admin/users", {"email": "alice@example.com"}, format="json")
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "email"),
        ({"email": "x@example.com", "password": "123"}, "password"),
        ({"email": "x@example.com", "claims": [1]}, "claims"),
        ({"email": "x@example.com", "disabled": "no"}, "disabled"),
        ({"email": "x@example.com", "is_staff": True}, "is_staff"),
    ],
)
def test_create_with_bad_input_is_400_and_creates_nothing(service_api, payload, field):
    response = service_api.post("/v1/admin/users", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    assert not User.objects.exists()


def test_get_one_user_and_404_for_unknown_or_malformed_ids(service_api, alice):
    assert service_api.get(f"/v1/admin/users/{alice['user']['id']}").json()["email"] == "alice@example.com"
    assert service_api.get(f"/v1/admin/users/{MISSING}").status_code == 404
    assert service_api.get("/v1/admin/users/not-a-uuid").status_code == 404


def test_list_pages_with_a_keyset_cursor(service_api):
    created = make_users(service_api, 5)
    first = service_api.get("/v1/admin/users?limit=3").json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    make_users_after = service_api.post("/v1/admin/users", {"email": "late@example.com"}, format="json")
    assert make_users_after.status_code == 201
    second = service_api.get(f"/v1/admin/users?limit=3&cursor={first['next_cursor']}").json()
    ids = [user["id"] for user in first["items"] + second["items"]]
    assert ids == [user["id"] for user in created] + [make_users_after.json()["id"]]
    assert second["next_cursor"] is None


def test_list_search_matches_part_of_the_email_or_the_id(service_api, alice, bob):
    found = service_api.get("/v1/admin/users?search=ALICE").json()["items"]
    assert [user["email"] for user in found] == ["alice@example.com"]
    by_id = service_api.get(f"/v1/admin/users?search={bob['user']['id']}").json()["items"]
    assert [user["email"] for user in by_id] == ["bob@example.com"]
    assert service_api.get("/v1/admin/users?search=zzz").json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("query", ["limit=0", "limit=x", "cursor=***"])
def test_bad_list_parameters_are_400(service_api, query):
    assert service_api.get(f"/v1/admin/users?{query}").status_code == 400


def test_disabling_a_user_stops_their_access_at_once(service_api, alice, alice_api):
    response = service_api.patch(f"/v1/admin/users/{alice['user']['id']}", {"disabled": True}, format="json")
    assert response.status_code == 200 and response.json()["disabled"] is True
    assert alice_api.get("/v1/auth/user").status_code == 401
    service_api.patch(f"/v1/admin/users/{alice['user']['id']}", {"disabled": False}, format="json")
    assert alice_api.get("/v1/auth/user").status_code == 401  # the ended sessions stay ended


def test_patch_sets_claims_email_and_password(service_api, alice, api):
    url = f"/v1/admin/users/{alice['user']['id']}"
    response = service_api.patch(
        url,
        {"claims": {"admin": True}, "email": "alice@new.example.com", "password": "set by the admin"},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["claims"] == {"admin": True} and body["email"] == "alice@new.example.com"
    login = api.post(
        "/v1/auth/token", {"email": "alice@new.example.com", "password": "set by the admin"}, format="json"
    )
    assert login.status_code == 200
    assert bearer(alice["access"]).get("/v1/auth/user").status_code == 401  # new password: sessions ended


@pytest.mark.parametrize(
    "payload",
    [{"claims": "admin"}, {"email": "bad"}, {"password": "1"}, {"anonymous": True}, {"disabled": 1}],
)
def test_bad_patches_are_400_and_change_nothing(service_api, alice, payload):
    response = service_api.patch(f"/v1/admin/users/{alice['user']['id']}", payload, format="json")
    assert response.status_code == 400
    user = User.objects.get()
    assert user.claims == {} and user.email == "alice@example.com" and not user.disabled


def test_patch_to_a_taken_email_is_409(service_api, alice, bob):
    response = service_api.patch(f"/v1/admin/users/{alice['user']['id']}", {"email": "bob@example.com"}, format="json")
    assert response.status_code == 409


def test_delete_removes_the_user_and_404s_after(service_api, alice):
    url = f"/v1/admin/users/{alice['user']['id']}"
    assert service_api.delete(url).status_code == 204
    assert service_api.get(url).status_code == 404
    assert service_api.delete(url).status_code == 404


def test_admin_logout_ends_every_session_of_the_user(service_api, alice, alice_api, api):
    response = service_api.post(f"/v1/admin/users/{alice['user']['id']}/logout")
    assert response.status_code == 204
    assert alice_api.get("/v1/auth/user").status_code == 401
    assert api.post("/v1/auth/token/refresh", {"refresh": alice["refresh"]}, format="json").status_code == 401
    assert service_api.post(f"/v1/admin/users/{MISSING}/logout").status_code == 404
