"""The webhooks API: who may use it, what it refuses (in the API's error shape, changing nothing),
the secret shown once, and the egress rules applied before any connection."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

HOOK = {"name": "crm", "url": "https://crm.example.com/hooks", "source": {"collection": "orders"}}


def test_only_the_service_role_and_staff(api: APIClient, alice_api: APIClient, csrf_staff_api: APIClient) -> None:
    assert api.get("/v1/webhooks").status_code == 401
    assert alice_api.post("/v1/webhooks", HOOK, format="json").status_code == 403
    assert csrf_staff_api.post("/v1/webhooks", HOOK, format="json").status_code == 201


def test_create_shows_the_secret_once(service_api: APIClient) -> None:
    created = service_api.post("/v1/webhooks", HOOK, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["document.created", "document.updated", "document.deleted"]
    assert body["enabled"] is True and body["max_retries"] == 8
    shown = service_api.get("/v1/webhooks/crm").json()
    assert "secret" not in shown and shown["url"] == HOOK["url"]
    assert [h["name"] for h in service_api.get("/v1/webhooks").json()["items"]] == ["crm"]
    assert "whsec_" not in str(service_api.get("/v1/webhooks").json())
    assert service_api.post("/v1/webhooks", HOOK, format="json").status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "http://crm.example.com/hooks"}, "url"),  # plain http without WEBHOOKS_ALLOW_HTTP
        ({"url": "ftp://crm.example.com/"}, "url"),
        ({"url": "https://user:pw@crm.example.com/"}, "url"),
        ({"url": "https://127.0.0.1/hook"}, "url"),  # loopback
        ({"url": "https://10.1.2.3/hook"}, "url"),  # private
        ({"url": "https://192.168.0.10/hook"}, "url"),
        ({"url": "https://169.254.169.254/latest/meta-data"}, "url"),  # cloud metadata
        ({"url": "https://[::1]/hook"}, "url"),
        ({"url": "https://[fd00::1]/hook"}, "url"),
        ({"url": "https://[::ffff:10.0.0.1]/hook"}, "url"),  # IPv4-mapped private
        ({"name": "Bad Name"}, "name"),
        ({"source": {"collection": "orders", "bucket": "b"}}, "source"),
        ({"source": {"table": "orders"}}, "source"),
        ({"source": {"collection": "orders", "prefix": "x"}}, "source.prefix"),
        ({"events": ["object.created"]}, "events"),
        ({"events": []}, "events"),
        ({"filter": "total >>> 3"}, "filter"),
        ({"source": {"bucket": "up"}, "filter": "size > 3"}, "filter"),
        ({"secret": "not-a-secret"}, "secret"),
        ({"max_retries": -1}, "max_retries"),
        ({"enabled": "yes"}, "enabled"),
        ({"color": "blue"}, "color"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_created(
    service_api: APIClient, change: dict[str, Any], field: str
) -> None:
    answer = service_api.post("/v1/webhooks", {**HOOK, **change}, format="json")
    assert answer.status_code == 400, answer.json()
    error = answer.json()["error"]
    assert error["code"] == "validation_error" and field in error["details"]
    assert service_api.get("/v1/webhooks").json()["items"] == []


def test_a_listed_network_may_be_a_destination(service_api: APIClient, settings: Any) -> None:
    settings.WEBHOOKS_EGRESS_ALLOW = ["10.1.0.0/16"]
    assert service_api.post("/v1/webhooks", {**HOOK, "url": "https://10.1.2.3/h"}, format="json").status_code == 201


def test_update_validates_and_delete_removes(service_api: APIClient) -> None:
    service_api.post("/v1/webhooks", HOOK, format="json")
    bad = service_api.patch("/v1/webhooks/crm", {"url": "https://127.0.0.1/"}, format="json")
    assert bad.status_code == 400
    assert service_api.patch("/v1/webhooks/crm", {"source": {"collection": "x"}}, format="json").status_code == 400
    assert service_api.get("/v1/webhooks/crm").json()["url"] == HOOK["url"]
    changed = service_api.patch("/v1/webhooks/crm", {"events": ["document.deleted"], "enabled": False}, format="json")
    assert changed.status_code == 200 and changed.json()["events"] == ["document.deleted"]
    assert service_api.delete("/v1/webhooks/crm").status_code == 204
    assert service_api.get("/v1/webhooks/crm").status_code == 404
    assert service_api.get("/v1/webhooks/crm/deliveries").status_code == 404


def test_retry_of_an_unknown_or_unfinished_delivery(service_api: APIClient) -> None:
    missing = service_api.post("/v1/webhook-deliveries/0b6f1c9e-5d0a-4a43-9f0e-3f7d2f1a8c11/retry")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    service_api.post("/v1/webhooks", HOOK, format="json")
    queued = service_api.post("/v1/webhooks/crm/test").json()
    conflict = service_api.post(f"/v1/webhook-deliveries/{queued['id']}/retry")
    assert conflict.status_code == 409
    assert service_api.get("/v1/webhooks/crm/deliveries?status=bogus").status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/hook",
        "https://169.254.169.254/",
        "https://[fe80::1]/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
    ],
)
def test_the_sender_refuses_forbidden_addresses_before_connecting(url: str, settings: Any) -> None:
    """The same check at send time (a URL written before the rules changed, or a name that now
    resolves there): refused with no connection attempt, and final (no retries)."""
    from webhooks import sending

    settings.WEBHOOKS_EGRESS_ALLOW = []
    outcome = sending.post(url, b"{}", {})
    assert outcome.final and outcome.status_code is None
    assert outcome.error.startswith("egress_refused:")


def test_the_function_egress_proxy_shares_the_check(settings: Any) -> None:
    import ipaddress

    from baas import egress
    from functions.sandbox import egress as proxy

    settings.FUNCTIONS_EGRESS_ALLOW = []
    for address in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "::1"):
        ip = ipaddress.ip_address(address)
        assert proxy.refusal(ip) == egress.refusal(ip) is not None
    assert egress.refusal(ipaddress.ip_address("127.0.0.1"), ["127.0.0.0/8"]) is None
