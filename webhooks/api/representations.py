"""What the webhooks API shows of a webhook and a delivery (never a secret, except the one a
create or a rotation returns once)."""

from __future__ import annotations

from typing import Any

from baas.timestamps import rfc3339
from webhooks.models import Webhook, WebhookDelivery


def webhook_repr(webhook: Webhook) -> dict[str, Any]:
    source: dict[str, Any] = {webhook.source_kind: webhook.source_name}
    if webhook.source_kind == Webhook.BUCKET:
        source["prefix"] = webhook.prefix
    return {
        "name": webhook.name,
        "url": webhook.url,
        "source": source,
        "events": list(webhook.events),
        "filter": webhook.filter or None,
        "enabled": webhook.enabled,
        "disabled_reason": webhook.disabled_reason or None,
        "max_retries": webhook.max_retries,
        "previous_secret_valid_until": rfc3339(webhook.previous_until) if webhook.previous_until else None,
        "created_at": rfc3339(webhook.created_at),
        "updated_at": rfc3339(webhook.updated_at),
    }


def delivery_repr(delivery: WebhookDelivery) -> dict[str, Any]:
    last = delivery.history[-1] if delivery.history else {}
    return {
        "id": str(delivery.pk),
        "webhook": delivery.webhook.name,
        "event_id": delivery.event_id,
        "type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "max_attempts": delivery.max_attempts,
        "status_code": last.get("status_code"),
        "error": last.get("error") or None,
        "next_attempt_at": rfc3339(delivery.not_before)
        if delivery.status == WebhookDelivery.RETRYING and delivery.not_before
        else None,
        "created_at": rfc3339(delivery.created_at),
        "finished_at": rfc3339(delivery.finished_at) if delivery.finished_at else None,
        "history": list(delivery.history),
        "body": delivery.body,
    }
