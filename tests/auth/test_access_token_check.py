"""The per-request check of an access token (one plain-SQL query, session joined to its user).

A document get is the hot path that runs it (through the lean bearer dispatch), so the refusals are
checked there: each must apply on the very next request, not when the access token expires.
"""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from auth import services, tokens
from auth.models import Session, User
from baas.errors import TokenInvalid
from baas.principals import Principal, service_principal
from documents import services as documents
from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared_doc(db: None) -> str:
    """A document anyone signed in may read: its URL."""
    documents.create_collection(name="shared", rules={"read": "auth != null"})
    documents.create_document(collection="shared", data={"n": 1}, doc_id="one", principal=_service())
    return "/v1/db/shared/one"


def _service() -> Principal:
    return service_principal(key_id=str(uuid.uuid4()), name="tests")


def _refused(client: APIClient, url: str, message: str | None = None) -> None:
    response = client.get(url)
    assert response.status_code == 401, response.content
    error = response.json()["error"]
    assert error["code"] == "token_invalid"
    if message is not None:
        assert error["message"] == message


def test_an_open_session_reads_the_document(alice_api, shared_doc):
    response = alice_api.get(shared_doc)
    assert response.status_code == 200 and response.json()["data"] == {"n": 1}


def test_a_logged_out_session_is_refused_on_the_next_get(api, alice, alice_api, shared_doc):
    assert alice_api.get(shared_doc).status_code == 200
    assert api.post("/v1/auth/logout", {"refresh": alice["refresh"]}, format="json").status_code == 204
    _refused(alice_api, shared_doc, "This session has ended; sign in again.")


def test_logout_everywhere_refuses_every_session_on_the_next_get(api, alice, alice_api, shared_doc):
    second = api.post("/v1/auth/token", {"email": "alice@example.com", "password": PASSWORD}, format="json")
    assert second.status_code == 200, second.content
    second_api = bearer(second.json()["access"])
    assert second_api.get(shared_doc).status_code == 200
    assert alice_api.post("/v1/auth/logout", {"all": True}, format="json").status_code == 204
    _refused(alice_api, shared_doc)
    _refused(second_api, shared_doc)


def test_a_reused_refresh_token_refuses_the_sessions_access_token(api, alice, alice_api, shared_doc):
    assert api.post("/v1/auth/token/refresh", {"refresh": alice["refresh"]}, format="json").status_code == 200
    assert api.post("/v1/auth/token/refresh", {"refresh": alice["refresh"]}, format="json").status_code == 401
    _refused(alice_api, shared_doc)


def test_a_disabled_user_is_refused_on_the_next_get(alice, alice_api, service_api, shared_doc):
    assert alice_api.get(shared_doc).status_code == 200
    service_api.patch(f"/v1/admin/users/{alice['user']['id']}", {"disabled": True}, format="json")
    _refused(alice_api, shared_doc)


def test_the_disabled_flag_alone_refuses_an_open_session(alice, alice_api, shared_doc):
    """Disabling through the admin API also ends the sessions; the check must not rely on that."""
    User.objects.filter(pk=alice["user"]["id"]).update(disabled=True)
    assert Session.objects.filter(user_id=alice["user"]["id"], revoked_at__isnull=True).exists()
    _refused(alice_api, shared_doc, "This account is disabled.")


def test_a_deleted_user_is_refused_on_the_next_get(alice, alice_api, service_api, shared_doc):
    assert alice_api.get(shared_doc).status_code == 200
    assert service_api.delete(f"/v1/admin/users/{alice['user']['id']}").status_code == 204
    _refused(alice_api, shared_doc)


def test_a_session_of_another_user_is_refused(alice, bob, shared_doc):
    """`sub` and `sid` must belong together: a token naming Bob with Alice's session is refused."""
    bob_user = User.objects.get(pk=bob["user"]["id"])
    alice_session = Session.objects.get(user_id=alice["user"]["id"])
    _refused(bearer(tokens.issue_access(user=bob_user, session_id=str(alice_session.id))), shared_doc)


@pytest.mark.parametrize("field", ["sub", "sid"])
@pytest.mark.parametrize("value", ["not-a-uuid", "00000000-0000-4000-8000-000000000000"])
def test_a_signed_token_with_an_unknown_or_malformed_id_is_refused(alice, shared_doc, field, value):
    user = User.objects.get(pk=alice["user"]["id"])
    session = Session.objects.get(user_id=user.id)
    claims = {"sub": str(user.id), "sid": str(session.id), field: value}
    token = tokens._Access()
    token.set_exp(lifetime=tokens.access_lifetime())
    token.payload.update(claims)
    _refused(bearer(str(token)), shared_doc)


def test_the_user_is_loaded_exactly_as_the_orm_loads_it(alice, service_api):
    """request.user comes from the plain-SQL row: every field equals (type included) the ORM's."""
    service_api.patch(
        f"/v1/admin/users/{alice['user']['id']}",
        {"claims": {"plan": "pro", "n": [1, 2.5, None]}, "data": {"nested": {"é": True}}},
        format="json",
    )
    user, principal = services.authenticate_access_token(alice["access"])
    stored = User.objects.get(pk=alice["user"]["id"])
    assert user.pk == stored.pk and not user._state.adding and user._state.db == stored._state.db
    for field in User._meta.concrete_fields:
        found, expected = getattr(user, field.attname), getattr(stored, field.attname)
        assert (found, type(found)) == (expected, type(expected)), field.name
    assert principal.claims == {"plan": "pro", "n": [1, 2.5, None]} and principal.role == "user"
    session = Session.objects.get(user_id=stored.id)
    assert principal.credential_id == str(session.id)


def test_an_anonymous_user_gets_the_anonymous_role(api):
    created = api.post("/v1/auth/anonymous", {}, format="json").json()
    _, principal = services.authenticate_access_token(created["access"])
    assert principal.role == "anonymous_user" and principal.email is None


def test_a_refreshed_session_keeps_working(api, alice, shared_doc):
    pair = api.post("/v1/auth/token/refresh", {"refresh": alice["refresh"]}, format="json").json()
    assert bearer(pair["access"]).get(shared_doc).status_code == 200


def test_an_unknown_token_raises_token_invalid(db):
    with pytest.raises(TokenInvalid):
        services.authenticate_access_token("a.b.c")
