"""auth/api/representations.py: each answer is built by one function and says exactly what its
OpenAPI schema declares; times are RFC 3339 UTC (`baas.timestamps.rfc3339`)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from auth.api import representations
from auth.models import ServiceKey, User
from baas.openapi import COMPONENTS
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def properties(ref: dict[str, Any]) -> set[str]:
    return set(COMPONENTS[ref["$ref"].rsplit("/", 1)[1]]["properties"])


def test_each_representation_has_exactly_the_properties_of_its_schema(alice, service_key):
    user = User.objects.get(pk=alice["user"]["id"])
    key = ServiceKey.objects.get()
    pair = {"access": alice["access"], "refresh": alice["refresh"]}
    built = {
        "User": representations.user(user),
        "PendingEmailUser": representations.pending_email_user(user, "new@example.com"),
        "AdminUser": representations.admin_user(user),
        "ServiceKey": representations.service_key(key),
        "CreatedServiceKey": representations.created_service_key(key, "baas_sk_shown_once"),
    }
    schemas = {
        "User": representations.USER,
        "PendingEmailUser": representations.PENDING_EMAIL_USER,
        "AdminUser": representations.ADMIN_USER,
        "ServiceKey": representations.SERVICE_KEY,
        "CreatedServiceKey": representations.CREATED_SERVICE_KEY,
    }
    for name, body in built.items():
        assert set(body) == properties(schemas[name]), name
    assert set(pair) == properties(representations.TOKEN_PAIR)
    assert set(alice) == properties(representations.SESSION)


def test_times_are_rfc3339_utc_everywhere(api, alice, service_api):
    assert RFC3339_UTC.match(alice["user"]["created_at"])
    api.post("/v1/auth/token", {"email": "alice@example.com", "password": PASSWORD}, format="json")
    admin_view = service_api.get(f"/v1/admin/users/{alice['user']['id']}").json()
    for field in ("created_at", "updated_at", "last_sign_in_at"):
        assert RFC3339_UTC.match(admin_view[field]), field
    assert admin_view["created_at"] == alice["user"]["created_at"]
    [key] = service_api.get("/v1/admin/keys").json()["items"]
    assert RFC3339_UTC.match(key["created_at"]) and RFC3339_UTC.match(key["last_used_at"])


def test_times_not_yet_happened_are_null(service_api):
    made = service_api.post("/v1/admin/users", {"email": "new@example.com"}, format="json").json()
    assert made["last_sign_in_at"] is None
    created = service_api.post("/v1/admin/keys", {"name": "unused"}, format="json").json()
    assert created["last_used_at"] is None and RFC3339_UTC.match(created["created_at"])
