"""Reads of outgoing webhooks for the API (service role and staff only: the views check)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q

from baas.errors import NotFound
from webhooks.models import Webhook, WebhookDelivery

DELIVERY_STATUSES = tuple(status for status, _ in WebhookDelivery.STATUS_CHOICES)


def list_webhooks(*, after_name: str | None, limit: int) -> list[Webhook]:
    rows = Webhook.objects.order_by("name")
    if after_name is not None:
        rows = rows.filter(name__gt=after_name)
    return list(rows[: limit + 1])


def get_webhook(name: str) -> Webhook:
    webhook = Webhook.objects.filter(name=name).first()
    if webhook is None:
        raise NotFound(f"There is no webhook named {name!r}.")
    return webhook


def list_deliveries(
    webhook: Webhook, *, status: str | None, after: tuple[datetime, Any] | None, limit: int
) -> list[WebhookDelivery]:
    """Newest first, after the position `(created_at, id)`."""
    rows = WebhookDelivery.objects.filter(webhook=webhook).select_related("webhook")
    if status:
        rows = rows.filter(status=status)
    if after is not None:
        at, last_id = after
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=last_id))
    return list(rows.order_by("-created_at", "-id")[: limit + 1])


def get_delivery(delivery_id: Any) -> WebhookDelivery:
    found = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if found is None:
        raise NotFound("There is no such webhook delivery.")
    return found
