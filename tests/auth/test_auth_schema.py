"""The OpenAPI document describes the auth and admin endpoints, without generator warnings."""

from __future__ import annotations

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


def test_the_schema_generates_without_warnings_and_lists_every_auth_path():
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    # Only ours: other services' views are theirs to keep clean.
    ours = [
        message
        for message in [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
        if "auth/" in message or "Admin" in message or "bearerAuth" in message
    ]
    assert ours == []
    paths = set(schema["paths"])
    for path in [
        "/v1/auth/signup",
        "/v1/auth/token",
        "/v1/auth/token/refresh",
        "/v1/auth/logout",
        "/v1/auth/anonymous",
        "/v1/auth/user",
        "/v1/auth/verify/request",
        "/v1/auth/verify",
        "/v1/auth/recover",
        "/v1/auth/recover/confirm",
        "/v1/admin/users",
        "/v1/admin/users/{user_id}",
        "/v1/admin/users/{user_id}/logout",
    ]:
        assert path in paths
    signup = schema["paths"]["/v1/auth/signup"]["post"]
    assert signup["tags"] == ["auth"] and "201" in signup["responses"]
    assert schema["paths"]["/v1/admin/users"]["get"]["tags"] == ["admin"]
    user = schema["components"]["schemas"]["User"]["properties"]
    assert set(user) == {"id", "email", "is_anonymous", "email_verified", "data", "claims", "created_at"}


def test_the_schema_endpoint_answers(api):
    assert api.get("/v1/schema").status_code == 200
