"""Every admin endpoint, for every persona: only the service role and staff get through."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "/v1/admin/users", None),
    ("post", "/v1/admin/users", {"email": "made@example.com"}),
    ("get", "/v1/admin/users/{id}", None),
    ("patch", "/v1/admin/users/{id}", {"claims": {"x": 1}}),
    ("delete", "/v1/admin/users/{id}", None),
    ("post", "/v1/admin/users/{id}/logout", None),
    ("get", "/v1/admin/keys", None),
    ("post", "/v1/admin/keys", {"name": "made"}),
    ("delete", "/v1/admin/keys/{key}", None),
]
PERSONAS = {
    "anonymous": 401,
    "user": 403,
    "other_user": 403,
    "anonymous_user": 403,
    "service": "ok",
    "staff": "ok",
}


def client_for(persona, request):  # type: ignore[no-untyped-def]
    from tests.conftest import bearer

    if persona == "anonymous":
        return request.getfixturevalue("api")
    if persona == "user":
        return request.getfixturevalue("alice_api")  # the target user themselves
    if persona == "other_user":
        return request.getfixturevalue("bob_api")
    if persona == "anonymous_user":
        guest = request.getfixturevalue("api").post("/v1/auth/anonymous").json()
        return bearer(guest["access"])
    if persona == "service":
        return request.getfixturevalue("service_api")
    return request.getfixturevalue("csrf_staff_api")


@pytest.mark.parametrize(("method", "url", "payload"), ENDPOINTS)
@pytest.mark.parametrize("persona", list(PERSONAS))
def test_admin_endpoint_access_by_persona(request, alice, service_key, method, url, payload, persona):
    from auth.models import ServiceKey, User

    key = ServiceKey.objects.get(name="tests")
    target = url.format(id=alice["user"]["id"], key=key.id)
    client = client_for(persona, request)
    users_before, keys_before = User.objects.count(), ServiceKey.objects.filter(revoked_at=None).count()
    response = getattr(client, method)(target, payload, format="json") if payload else getattr(client, method)(target)
    expected = PERSONAS[persona]
    if expected == "ok":
        assert response.status_code in (200, 201, 204), response.content
        return
    assert response.status_code == expected, response.content
    assert response.json()["error"]["code"] == ("not_authenticated" if expected == 401 else "permission_denied")
    assert User.objects.count() == users_before
    assert ServiceKey.objects.filter(revoked_at=None).count() == keys_before
    assert User.objects.get(pk=alice["user"]["id"]).claims == {}
