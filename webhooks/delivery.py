"""Delivering webhooks with the trigger machinery's guarantees: at least once, retried with the
same backoff, dead after `max_retries`, replayable by hand.

Why a delivery row of its own rather than an `Invocation`: an invocation belongs to a function
version and runs in a sandbox (its claim checks versions, order, concurrency and rate limits); a
delivery runs no code, only one HTTP request from the worker. What they share is taken from the
functions app, not copied: the event log cursor (this module's `deliveries_for` is a subscriber of
the trigger dispatcher, called in its transaction, so a delivery row exists exactly when the
cursor has passed its event), the event as handlers see it, the trigger filters, the backoff, and
the lifecycle (queued → running → succeeded | retrying → … → dead; the row is the truth and a
Celery message only says "look at this row now", so a lost message is sent again by the sweep and
a duplicate finds the row already claimed).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from baas.celery import app
from baas.errors import Conflict, NotFound
from baas.events import EventRecord
from baas.timestamps import rfc3339
from functions import services as functions
from webhooks import secrets, sending, signing
from webhooks.models import Webhook, WebhookDelivery

logger = logging.getLogger("baas.webhooks")

DELIVER = "webhooks.deliver"
HISTORY = 20  # attempts kept per delivery
SWEEP_BATCH = 500
TEST_EVENT = "webhook.test"


# --- from the event log ---------------------------------------------------------------------------
def deliveries_for(records: list[EventRecord]) -> None:
    """Queue a delivery per (enabled webhook, matching event) of a dispatched batch. Runs inside the
    dispatch transaction (functions/dispatcher.py); the messages go once it commits."""
    by_topic: dict[str, list[Webhook]] = {}
    for webhook in Webhook.objects.filter(enabled=True).only(
        "id", "source_kind", "source_name", "prefix", "events", "filter", "max_retries", "since_seq"
    ):
        by_topic.setdefault(webhook.topic, []).append(webhook)
    if not by_topic:
        return
    now = timezone.now()
    rows = []
    for record in records:
        listening = by_topic.get(record.topic)
        if not listening:
            continue
        event_type = _event_type(record)
        data = None
        for webhook in listening:
            if not _accepts(webhook, record, event_type):
                continue
            data = data or functions.event_payload(record)
            rows.append(
                WebhookDelivery(
                    webhook_id=webhook.pk,
                    event_id=record.event_id,
                    event_type=event_type,
                    seq=record.seq,
                    body={"type": event_type, "timestamp": rfc3339(record.created_at), "data": data},
                    max_attempts=webhook.max_retries + 1,
                    enqueued_at=now,
                )
            )
    if rows:
        WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        send_on_commit([row.pk for row in rows])


def _event_type(record: EventRecord) -> str:
    if record.topic.startswith("db/"):
        return f"document.{record.kind}"
    return "object.deleted" if record.kind == "deleted" else "object.created"  # an overwrite is an upload


def _accepts(webhook: Webhook, record: EventRecord, event_type: str) -> bool:
    if record.seq <= webhook.since_seq or event_type not in webhook.events:
        return False
    if webhook.prefix and not record.key.startswith(webhook.prefix):
        return False
    return not webhook.filter or functions.filter_accepts(webhook.filter, record)


def queue_test(webhook: Webhook) -> WebhookDelivery:
    """A `webhook.test` delivery, one attempt (inside the caller's transaction)."""
    now = timezone.now()
    test = WebhookDelivery.objects.create(
        webhook=webhook,
        event_type=TEST_EVENT,
        body={"type": TEST_EVENT, "timestamp": rfc3339(now), "data": {"webhook": webhook.name}},
        max_attempts=1,
        enqueued_at=now,
    )
    send_on_commit([test.pk])
    return test


# --- messages -------------------------------------------------------------------------------------
def send(delivery_ids: list[Any], *, countdown: float | None = None) -> None:
    """One `webhooks.deliver` message per delivery. A failed send is logged, not raised: the row
    stays queued and the sweep sends it again."""
    if not delivery_ids:
        return
    try:
        with app.producer_or_acquire() as producer:
            for delivery_id in delivery_ids:
                app.send_task(DELIVER, (str(delivery_id),), countdown=countdown or None, producer=producer)
    except Exception:
        logger.warning("could not queue a webhook delivery; the sweep will send it again", exc_info=True)


def send_on_commit(delivery_ids: list[Any], *, countdown: float | None = None) -> None:
    ids = list(delivery_ids)
    if ids:
        transaction.on_commit(lambda: send(ids, countdown=countdown))


# --- one attempt ----------------------------------------------------------------------------------
def deliver(delivery_id: Any) -> str | None:
    """The worker's task: claim the delivery, POST it, record the outcome. None for a duplicate
    message or a delivery that is gone."""
    claimed = claim(delivery_id)
    if claimed is None:
        return None
    webhook = claimed.webhook
    if not webhook.enabled:
        outcome = sending.Outcome(None, 0, "webhook_disabled: the webhook was disabled", "", final=True)
        return finish(claimed, outcome)
    body = json.dumps(claimed.body, ensure_ascii=False, separators=(",", ":")).encode()
    headers = signing.headers(secrets.in_use(webhook), f"msg_{claimed.pk.hex}", int(time.time()), body)
    return finish(claimed, sending.post(webhook.url, body, headers))


def claim(delivery_id: Any) -> WebhookDelivery | None:
    send_later = None
    with transaction.atomic():
        found = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("webhook")
            .filter(pk=delivery_id)
            .first()
        )
        if found is None or found.status not in (WebhookDelivery.QUEUED, WebhookDelivery.RETRYING):
            return None
        now = timezone.now()
        if found.not_before and found.not_before > now + timedelta(milliseconds=20):
            send_later = (found.not_before - now).total_seconds()  # an early duplicate: come back then
        else:
            found.status = WebhookDelivery.RUNNING
            found.attempts += 1
            found.started_at = now
            grace = settings.WEBHOOKS_TIMEOUT_SECONDS * 2 + settings.FUNCTIONS_RUNNING_GRACE_SECONDS
            found.deadline = now + timedelta(seconds=grace)
            found.save(update_fields=["status", "attempts", "started_at", "deadline"])
            return found
    send([delivery_id], countdown=send_later)
    return None


def finish(claimed: WebhookDelivery, outcome: sending.Outcome) -> str:
    """Record an attempt: succeeded; retrying after the functions' backoff; or dead (out of
    attempts, or `outcome.final`). An attempt whose claim was taken over meanwhile records nothing."""
    now = timezone.now()
    entry = _entry(claimed.attempts, now, outcome.status_code, outcome.duration_ms, outcome.error, outcome.response)
    changes: dict[str, Any] = {"finished_at": now, "deadline": None, "history": [*claimed.history, entry][-HISTORY:]}
    retry_in = None
    if outcome.ok:
        changes["status"] = WebhookDelivery.SUCCEEDED
    elif not outcome.final and claimed.attempts < claimed.max_attempts:
        retry_in = functions.backoff_seconds(claimed.attempts)
        due = now + timedelta(seconds=retry_in)
        changes.update(status=WebhookDelivery.RETRYING, not_before=due, enqueued_at=due)
    else:
        changes["status"] = WebhookDelivery.DEAD
    with transaction.atomic():
        updated = WebhookDelivery.objects.filter(
            pk=claimed.pk, status=WebhookDelivery.RUNNING, attempts=claimed.attempts
        ).update(**changes)
        if updated and retry_in is not None:
            send_on_commit([claimed.pk], countdown=retry_in)
        if updated and outcome.status_code == 410:
            Webhook.objects.filter(pk=claimed.webhook_id).update(
                enabled=False, disabled_reason="The endpoint answered 410 Gone.", updated_at=now
            )
    if not updated:
        logger.warning("a webhook attempt finished after its delivery was taken over",
                       extra={"delivery": str(claimed.pk)})  # fmt: skip
        return claimed.status
    if changes["status"] == WebhookDelivery.DEAD:
        logger.warning(
            "webhook delivery dead after %s attempt(s): %s, event %s, %s",
            claimed.attempts, claimed.webhook.name, claimed.event_id or claimed.event_type, outcome.error,
            extra={"delivery": str(claimed.pk), "webhook": claimed.webhook.name, "event": claimed.event_id},
        )  # fmt: skip
    return str(changes["status"])


def _entry(attempt: int, at: Any, status: int | None, duration_ms: int | None, error: str, response: str) -> dict:
    """One attempt in a delivery's `history`."""
    return {
        "attempt": attempt,
        "at": rfc3339(at),
        "status_code": status,
        "duration_ms": duration_ms,
        "error": error,
        "response": response,
    }


# --- the sweep ------------------------------------------------------------------------------------
def sweep() -> dict[str, int]:
    """Re-send what was lost: attempts past their deadline (a killed worker) and queued deliveries
    whose message is older than FUNCTIONS_REQUEUE_SECONDS. Safe anywhere, any number of times."""
    now = timezone.now()
    report = {"lost_attempts": 0, "resent": 0}
    with transaction.atomic():
        lost = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=WebhookDelivery.RUNNING, deadline__lt=now)
            .order_by("deadline")[:SWEEP_BATCH]
        )
        for row in lost:
            # The attempt may have reached the endpoint: sending again is what at-least-once means.
            allowed = max(row.max_attempts, settings.FUNCTIONS_WORKER_LOST_ATTEMPTS)
            row.status = WebhookDelivery.QUEUED if row.attempts < allowed else WebhookDelivery.DEAD
            row.max_attempts = max(row.max_attempts, min(allowed, row.attempts + 1))
            row.deadline, row.not_before, row.enqueued_at = None, None, now
            lost_entry = _entry(row.attempts, now, None, None, "worker_lost: the worker stopped during the attempt", "")
            row.history = [*row.history, lost_entry][-HISTORY:]
            row.save(update_fields=["status", "max_attempts", "deadline", "not_before", "enqueued_at", "history"])
        send_on_commit([row.pk for row in lost if row.status == WebhookDelivery.QUEUED])
    report["lost_attempts"] = len(lost)
    stale = now - timedelta(seconds=settings.FUNCTIONS_REQUEUE_SECONDS)
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status__in=(WebhookDelivery.QUEUED, WebhookDelivery.RETRYING), enqueued_at__lt=stale)
            .order_by("enqueued_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(enqueued_at=now)
            send_on_commit(ids)
    report["resent"] = len(ids)
    return report


# --- retry by hand --------------------------------------------------------------------------------
def retry(delivery_id: Any) -> WebhookDelivery:
    """Send a finished delivery again (dead, or succeeded: a replay), with a fresh round of the
    webhook's `max_retries`. Raises NotFound / Conflict."""
    with transaction.atomic():
        found = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("webhook")
            .filter(pk=delivery_id)
            .first()
        )
        if found is None:
            raise NotFound("There is no such webhook delivery.")
        if found.status in WebhookDelivery.UNFINISHED:
            raise Conflict(f"This delivery is {found.status}: only a dead or succeeded one can be sent again.")
        now = timezone.now()
        found.status = WebhookDelivery.QUEUED
        found.max_attempts = found.attempts + found.webhook.max_retries + 1
        found.not_before, found.deadline, found.enqueued_at = None, None, now
        found.save(update_fields=["status", "max_attempts", "not_before", "deadline", "enqueued_at"])
        send_on_commit([found.pk])
    return found
