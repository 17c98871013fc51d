"""Service keys: `Authorization: Bearer <key>` authenticates as the service role."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_service_key_authenticates(service_api):
    response = service_api.get("/v1/admin/keys")
    assert response.status_code == 200
    assert [key["name"] for key in response.json()["items"]] == ["tests"]


def test_anonymous_callers_get_401_not_authenticated(api):
    response = api.get("/v1/admin/keys")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer baas_sk_not-a-real-key",
        "Bearer some.random.jwt",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer two words",
    ],
)
def test_a_wrong_or_malformed_credential_gets_401_token_invalid(api, header):
    api.credentials(HTTP_AUTHORIZATION=header)
    response = api.get("/v1/admin/keys")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_a_wrong_credential_is_refused_even_where_anonymous_callers_are_welcome(api):
    """A broken token must never silently degrade to anonymous access."""
    api.credentials(HTTP_AUTHORIZATION="Bearer baas_sk_wrong")
    response = api.get("/v1/ready")
    assert response.status_code == 200  # health endpoints take no credentials at all
    response = api.get("/v1/admin/keys")
    assert response.status_code == 401


def test_created_key_works_at_once_and_its_secret_is_shown_only_once(service_api):
    created = service_api.post("/v1/admin/keys", {"name": "ci deploy"}, format="json")
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret.startswith("baas_sk_")
    assert client_with(secret).get("/v1/admin/keys").status_code == 200
    listed = service_api.get("/v1/admin/keys").json()["items"]
    assert all("secret" not in key and "key_hash" not in key for key in listed)
    assert {key["name"] for key in listed} == {"tests", "ci deploy"}


def test_only_a_hash_of_the_secret_is_stored(service_key):
    from auth.models import ServiceKey

    stored = ServiceKey.objects.get(name="tests")
    assert service_key not in stored.key_hash
    assert len(stored.key_hash) == 64


def test_a_revoked_key_gets_401_token_invalid(service_api):
    created = service_api.post("/v1/admin/keys", {"name": "temp"}, format="json").json()
    assert service_api.delete(f"/v1/admin/keys/{created['id']}").status_code == 204
    response = client_with(created["secret"]).get("/v1/admin/keys")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_revoking_an_unknown_key_is_404(service_api):
    response = service_api.delete("/v1/admin/keys/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_active_key_name_is_unique(service_api):
    response = service_api.post("/v1/admin/keys", {"name": "tests"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


def test_key_names_are_validated(service_api):
    response = service_api.post("/v1/admin/keys", {"name": "../../etc"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["name"][0]["code"] == "invalid"


def test_key_list_pages_with_a_cursor(service_api):
    for index in range(5):
        service_api.post("/v1/admin/keys", {"name": f"k{index}"}, format="json")
    first = service_api.get("/v1/admin/keys?limit=4").json()
    assert len(first["items"]) == 4 and first["next_cursor"]
    second = service_api.get(f"/v1/admin/keys?limit=4&cursor={first['next_cursor']}").json()
    assert second["next_cursor"] is None
    names = [key["name"] for key in first["items"] + second["items"]]
    assert sorted(names) == sorted(["tests", "k0", "k1", "k2", "k3", "k4"])


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "cursor=%%%"])
def test_bad_paging_parameters_are_400(service_api, query):
    response = service_api.get(f"/v1/admin/keys?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_staff_signed_in_to_the_console_may_manage_keys(staff_api):
    assert staff_api.get("/v1/admin/keys").status_code == 200


def test_cli_create_prints_the_secret_alone_and_revoke_disables_it():
    out = io.StringIO()
    call_command("keys", "create", "from-cli", stdout=out)
    secret = out.getvalue().strip()
    assert secret.startswith("baas_sk_") and "\n" not in secret
    assert client_with(secret).get("/v1/admin/keys").status_code == 200

    listing = io.StringIO()
    call_command("keys", "list", stdout=listing)
    assert "from-cli" in listing.getvalue() and secret not in listing.getvalue()

    call_command("keys", "revoke", "from-cli", stdout=io.StringIO())
    assert client_with(secret).get("/v1/admin/keys").status_code == 401


def test_bootstrap_creates_a_key_only_on_a_fresh_installation():
    first = io.StringIO()
    call_command("keys", "bootstrap", stdout=first)
    assert "baas_sk_" in first.getvalue()
    again = io.StringIO()
    call_command("keys", "bootstrap", stdout=again)
    assert again.getvalue() == ""
