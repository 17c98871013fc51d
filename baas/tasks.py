"""Kernel background tasks."""

from __future__ import annotations

from celery import shared_task

from baas import events


@shared_task(name="baas.tasks.prune_event_log", ignore_result=True)
def prune_event_log() -> int:
    """Apply the event log's retention settings (scheduled by beat every 15 minutes)."""
    return events.prune()


@shared_task(name="baas.tasks.purge_idempotency_keys", ignore_result=True)
def purge_idempotency_keys() -> int:
    """Forget idempotency keys past their lifetime (BAAS_IDEMPOTENCY_TTL_SECONDS)."""
    from baas import idempotency

    return idempotency.purge_expired()
