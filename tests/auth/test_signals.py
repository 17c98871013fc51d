"""baas.signals.user_created / user_deleted, sent by the auth services with the user id."""

from __future__ import annotations

import pytest

from baas import signals
from tests.conftest import signup

pytestmark = pytest.mark.django_db


@pytest.fixture
def received():  # type: ignore[no-untyped-def]
    events: list[tuple[str, dict]] = []

    def on_created(sender, **kwargs):  # type: ignore[no-untyped-def]
        events.append(("created", {"sender": sender, **kwargs}))

    def on_deleted(sender, **kwargs):  # type: ignore[no-untyped-def]
        events.append(("deleted", {"sender": sender, **kwargs}))

    signals.user_created.connect(on_created)
    signals.user_deleted.connect(on_deleted)
    yield events
    signals.user_created.disconnect(on_created)
    signals.user_deleted.disconnect(on_deleted)


def test_signup_anonymous_and_admin_create_send_user_created(api, service_api, received):
    user = signup(api, "sig@example.com")["user"]
    guest = api.post("/v1/auth/anonymous").json()["user"]
    made = service_api.post("/v1/admin/users", {"email": "made@example.com"}, format="json").json()
    created = [(payload["user_id"], payload["anonymous"]) for kind, payload in received if kind == "created"]
    assert created == [(user["id"], False), (guest["id"], True), (made["id"], False)]
    assert all(payload["sender"] == "auth" and isinstance(payload["user_id"], str) for _, payload in received)


def test_delete_sends_user_deleted_once(service_api, alice, received):
    service_api.delete(f"/v1/admin/users/{alice['user']['id']}")
    assert [(kind, payload["user_id"]) for kind, payload in received] == [("deleted", alice["user"]["id"])]


def test_failed_signup_sends_nothing(api, alice, received):
    api.post("/v1/auth/signup", {"email": "alice@example.com", "password": "whatever passphrase"}, format="json")
    api.post("/v1/auth/signup", {"email": "weak@example.com", "password": "1"}, format="json")
    assert received == []
