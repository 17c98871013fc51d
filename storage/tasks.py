"""Background tasks of object storage."""

from __future__ import annotations

from celery import shared_task

from storage import services


@shared_task(name="storage.tasks.sweep_orphans", ignore_result=True)
def sweep_orphans() -> int:
    """Remove object bytes that no object references (scheduled by beat, STORAGE_SWEEP_SECONDS)."""
    return services.sweep_orphan_blobs()
