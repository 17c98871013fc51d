"""Every auth and admin body is refused the kernel's one way: a field the body does not define is
400 `validation_error` with `{name: [{"code": "unknown_field", "message"}]}` (and nothing is
written), a body that is not a JSON object is 400 `invalid_request`. (No body at all is `{}`:
`POST /v1/auth/anonymous` and `/v1/auth/verify/request` need none.)"""

from __future__ import annotations

from typing import Any

import pytest

from auth import services
from auth.models import ServiceKey, User
from baas.errors import ValidationFailed
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

# (persona fixture, method, path, a body that is valid but for the stray field)
BODIES = [
    ("api", "post", "/v1/auth/signup", {"email": "new@example.com", "password": PASSWORD}),
    ("api", "post", "/v1/auth/token", {"email": "alice@example.com", "password": PASSWORD}),
    ("api", "post", "/v1/auth/token/refresh", {"refresh": "x"}),
    ("alice_api", "post", "/v1/auth/logout", {}),
    ("api", "post", "/v1/auth/anonymous", {"data": {}}),
    ("alice_api", "patch", "/v1/auth/user", {"data": {"theme": "dark"}}),
    ("alice_api", "post", "/v1/auth/verify/request", {}),
    ("api", "post", "/v1/auth/verify", {"token": "x"}),
    ("api", "post", "/v1/auth/recover", {"email": "alice@example.com"}),
    ("api", "post", "/v1/auth/recover/confirm", {"token": "x", "password": PASSWORD}),
    ("service_api", "post", "/v1/admin/users", {"email": "made@example.com"}),
    ("service_api", "patch", "/v1/admin/users/{alice}", {"claims": {"role": "editor"}}),
    ("service_api", "post", "/v1/admin/keys", {"name": "ci"}),
]


def state() -> tuple[Any, ...]:
    users = tuple(User.objects.order_by("id").values_list("id", "email", "data", "claims", "password"))
    return users, ServiceKey.objects.count()


@pytest.mark.parametrize(("persona", "method", "path", "valid"), BODIES)
def test_an_unknown_field_is_the_kernels_unknown_field_error_and_writes_nothing(
    request, alice, persona, method, path, valid
):
    client = request.getfixturevalue(persona)
    path = path.format(alice=alice["user"]["id"])
    before = state()
    response = getattr(client, method)(path, {**valid, "stray": 1, "is_staff": True}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["details"]) == {"stray", "is_staff"}
    for name in ("stray", "is_staff"):
        [entry] = error["details"][name]
        assert set(entry) == {"code", "message"} and entry["code"] == "unknown_field"
        assert entry["message"].startswith("This field is not accepted here; expected ")
    assert state() == before


@pytest.mark.parametrize(("persona", "method", "path", "valid"), BODIES)
@pytest.mark.parametrize("not_an_object", ["[1, 2]", '"text"', "3", "null"])
def test_a_body_that_is_not_an_object_is_invalid_request(request, alice, persona, method, path, valid, not_an_object):
    client = request.getfixturevalue(persona)
    path = path.format(alice=alice["user"]["id"])
    before = state()
    response = client.generic(method.upper(), path, not_an_object, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": {"code": "invalid_request", "message": "The body must be a JSON object.", "details": {}}
    }
    assert state() == before


def test_the_admin_service_refuses_unknown_fields_the_same_way(alice):
    """The service checks its own input too (commands and other apps call it without a body parser)."""
    with pytest.raises(ValidationFailed) as refused:
        services.admin_update_user(user_id=alice["user"]["id"], changes={"anonymous": True, "claims": {}})
    [entry] = refused.value.details["anonymous"]
    assert set(refused.value.details) == {"anonymous"}
    assert entry["code"] == "unknown_field" and set(entry) == {"code", "message"}
    assert User.objects.get().anonymous is False
