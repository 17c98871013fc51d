"""Issue 14.7: a lone surrogate (or NUL, or an unstorable number) in profile data is refused at the
edge, on both databases, so no response that renders users — the admin list above all — can be
poisoned by an anonymous signup."""

from __future__ import annotations

import pytest

from auth.models import User
from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db

BAD_DATA = [
    b'"\\ud800"',
    b'{"nick": "\\udbff"}',
    b'{"\\udc00": 1}',
    b'{"nick": "a\\u0000"}',
    b'{"n": 1e400}',
    b'{"n": 9007199254740993}',
    b'{"n": NaN}',
]


@pytest.mark.parametrize("data", BAD_DATA)
def test_signup_refuses_unrepresentable_profile_data(api, service_api, data: bytes) -> None:  # type: ignore[no-untyped-def]
    body = b'{"email": "eve@example.com", "password": "' + PASSWORD.encode() + b'", "data": {"x": ' + data + b"}}"
    response = api.generic("POST", "/v1/auth/signup", body, content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["details"]["data"][0]["pointer"].startswith("/data/x")
    assert not User.objects.filter(email="eve@example.com").exists()
    listed = service_api.get("/v1/admin/users")
    assert listed.status_code == 200


@pytest.mark.parametrize("data", BAD_DATA)
def test_profile_updates_refuse_unrepresentable_data(alice, service_api, data: bytes) -> None:  # type: ignore[no-untyped-def]
    client = bearer(alice["access"])
    body = b'{"data": {"x": ' + data + b"}}"
    response = client.generic("PATCH", "/v1/auth/user", body, content_type="application/json")
    assert response.status_code == 400, response.content
    admin = service_api.generic(
        "PATCH", f"/v1/admin/users/{alice['user']['id']}", body, content_type="application/json"
    )
    assert admin.status_code == 400, admin.content
    assert User.objects.get(pk=alice["user"]["id"]).data == alice["user"]["data"]
    assert service_api.get("/v1/admin/users").status_code == 200
    assert client.get("/v1/auth/user").status_code == 200
