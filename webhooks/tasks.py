"""Celery entry points of outgoing webhooks: ids in, the work in webhooks/delivery.py."""

from __future__ import annotations

from celery import shared_task

from webhooks import delivery


@shared_task(name=delivery.DELIVER, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(delivery_id: str) -> str | None:
    return delivery.deliver(delivery_id)


@shared_task(name="webhooks.tick", ignore_result=True)
def tick() -> dict[str, int]:
    """From beat: re-send lost deliveries (new ones come from the trigger dispatcher's tick)."""
    return delivery.sweep()
