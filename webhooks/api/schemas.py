"""OpenAPI schemas of the webhooks API (webhooks/api/views.py)."""

from __future__ import annotations

from typing import Any

from baas.openapi import BOOLEAN, INTEGER, JSON_OBJECT, STRING, TIMESTAMP, component, examples, nullable, obj, page_of

EVENT_TYPES = ["document.created", "document.updated", "document.deleted", "object.created", "object.deleted"]
SOURCE = {
    "type": "object",
    "description": 'Exactly one of `{"collection": NAME}` or `{"bucket": NAME, "prefix"?: TEXT}`.',
    "properties": {"collection": STRING, "bucket": STRING, "prefix": STRING},
}
EVENTS = {"type": "array", "items": {"type": "string", "enum": EVENT_TYPES}}

CREATE = component(
    "WebhookCreate",
    obj(
        required=["name", "url", "source"],
        name=STRING,
        url={"type": "string", "description": "https:// endpoint (http:// only where WEBHOOKS_ALLOW_HTTP is on)."},
        source=SOURCE,
        events={**EVENTS, "description": "Default: every event type of the source."},
        filter={"type": "string", "description": "A rules expression over the document (collections)."},
        enabled=BOOLEAN,
        secret={"type": "string", "description": "whsec_<base64>; generated when left out."},
        max_retries=INTEGER,
    ),
)
UPDATE = component(
    "WebhookUpdate",
    obj(required=[], url=STRING, events=EVENTS, filter=nullable(STRING), enabled=BOOLEAN, max_retries=INTEGER),
)
ROTATE = component(
    "WebhookSecretRotate",
    obj(required=[], secret={"type": "string", "description": "whsec_<base64>; generated when left out."}),
)

_WEBHOOK_FIELDS: dict[str, Any] = {
    "name": STRING,
    "url": STRING,
    "source": SOURCE,
    "events": EVENTS,
    "filter": nullable(STRING),
    "enabled": BOOLEAN,
    "disabled_reason": nullable(STRING),
    "max_retries": INTEGER,
    "previous_secret_valid_until": nullable(TIMESTAMP),
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
}
WEBHOOK = component("Webhook", obj(None, **_WEBHOOK_FIELDS))
WEBHOOK_WITH_SECRET = component(
    "WebhookWithSecret",
    obj(None, **_WEBHOOK_FIELDS, secret={"type": "string", "description": "Shown this once: keep it."}),
)
WEBHOOK_PAGE = component("WebhookPage", page_of(WEBHOOK))
ATTEMPT = obj(
    attempt=INTEGER,
    at=TIMESTAMP,
    status_code=nullable(INTEGER),
    duration_ms=nullable(INTEGER),
    error=STRING,
    response={"type": "string", "description": "The start of the endpoint's answer."},
)
DELIVERY = component(
    "WebhookDelivery",
    obj(
        id=STRING,
        webhook=STRING,
        event_id=nullable(STRING),
        type=STRING,
        status={"type": "string", "enum": ["queued", "running", "succeeded", "retrying", "dead"]},
        attempts=INTEGER,
        max_attempts=INTEGER,
        status_code=nullable(INTEGER),
        error=nullable(STRING),
        next_attempt_at=nullable(TIMESTAMP),
        created_at=TIMESTAMP,
        finished_at=nullable(TIMESTAMP),
        history={"type": "array", "items": ATTEMPT},
        body={**JSON_OBJECT, "description": "What is POSTed: {type, timestamp, data}."},
    ),
)
DELIVERY_PAGE = component("WebhookDeliveryPage", page_of(DELIVERY))

_ANSWER = {
    "name": "orders-to-crm",
    "url": "https://crm.example.com/hooks/orders",
    "source": {"collection": "notes"},
    "events": ["document.created", "document.updated"],
    "filter": None,
    "enabled": True,
    "disabled_reason": None,
    "max_retries": 8,
    "previous_secret_valid_until": None,
    "created_at": "2026-01-05T10:00:00Z",
    "updated_at": "2026-01-05T10:00:00Z",
}
examples(
    "webhooks_create",
    request={
        "name": "orders-to-crm",
        "url": "https://crm.example.com/hooks/orders",
        "source": {"collection": "notes"},
        "events": ["document.created", "document.updated"],
    },
    r201={**_ANSWER, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw8ZZ5mY0Pa6I="},
)
examples("webhooks_update", request={"enabled": False}, r200={**_ANSWER, "enabled": False})
_DELIVERY = {
    "id": "0b6f1c9e-5d0a-4a43-9f0e-3f7d2f1a8c11",
    "webhook": "orders-to-crm",
    "event_id": "42",
    "type": "document.created",
    "status": "retrying",
    "attempts": 1,
    "max_attempts": 9,
    "status_code": 503,
    "error": "http_status: the endpoint answered 503",
    "next_attempt_at": "2026-01-05T10:00:02Z",
    "created_at": "2026-01-05T10:00:00Z",
    "finished_at": "2026-01-05T10:00:00Z",
    "history": [
        {
            "attempt": 1,
            "at": "2026-01-05T10:00:00Z",
            "status_code": 503,
            "duration_ms": 38,
            "error": "http_status: the endpoint answered 503",
            "response": "try later",
        }
    ],
    "body": {
        "type": "document.created",
        "timestamp": "2026-01-05T10:00:00Z",
        "data": {"id": "42", "type": "document.created", "collection": "notes", "key": "n1", "doc": {"id": "n1"}},
    },
}
examples("webhooks_list", r200={"items": [_ANSWER], "next_cursor": None})
examples("webhooks_get", r200=_ANSWER)
examples(
    "webhooks_rotate_secret",
    request={},
    r200={
        **_ANSWER,
        "previous_secret_valid_until": "2026-01-06T10:00:00Z",
        "secret": "whsec_Xv3o0mZ0mYb9k8v7wHn2D1b8Zx6cJtq4fR5pLs2Kq1E=",
    },
)
examples("webhooks_test", r202={**_DELIVERY, "type": "webhook.test", "event_id": None, "status": "queued",
                                "attempts": 0, "max_attempts": 1, "status_code": None, "error": None,
                                "next_attempt_at": None, "finished_at": None, "history": [],
                                "body": {"type": "webhook.test", "timestamp": "2026-01-05T10:00:00Z",
                                         "data": {"webhook": "orders-to-crm"}}})  # fmt: skip
examples("webhooks_deliveries_list", r200={"items": [_DELIVERY], "next_cursor": None})
examples("webhook_deliveries_get", r200=_DELIVERY)
examples(
    "webhook_deliveries_retry",
    r202={**_DELIVERY, "status": "queued", "max_attempts": 10, "next_attempt_at": None},
)
