"""Outgoing webhooks: an endpoint that receives a collection's or a bucket's events, and one
delivery per (webhook, event) with its attempts."""

from __future__ import annotations

import uuid

from django.db import models


class Webhook(models.Model):
    COLLECTION, BUCKET = "collection", "bucket"
    SOURCE_CHOICES = [(COLLECTION, COLLECTION), (BUCKET, BUCKET)]

    name = models.CharField(max_length=63, unique=True)
    url = models.CharField(max_length=2000)
    source_kind = models.CharField(max_length=12, choices=SOURCE_CHOICES)
    source_name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=1024, blank=True, default="")  # buckets only
    events = models.JSONField(default=list)  # event types, e.g. ["document.created"]
    filter = models.TextField(blank=True, default="")  # rules language, collections only
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    max_retries = models.PositiveIntegerField()
    # Signing secrets, encrypted at rest (functions' key): the current one, and the one it replaced
    # while its grace period lasts (`previous_until`), so a receiver can switch without a gap.
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True, default="")
    previous_until = models.DateTimeField(null=True, blank=True)
    # Events with a sequence number above this one are delivered: nothing from before creation.
    since_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.CharField(max_length=200, blank=True, default="")

    def __str__(self) -> str:
        return self.name

    @property
    def topic(self) -> str:
        return f"{'db' if self.source_kind == self.COLLECTION else 'storage'}/{self.source_name}"


class WebhookDelivery(models.Model):
    """One event for one webhook. The states and their meaning are those of a trigger invocation
    (functions.models.Invocation): queued → running → succeeded, or retrying (backoff) → … → dead."""

    QUEUED, RUNNING, SUCCEEDED, RETRYING, DEAD = "queued", "running", "succeeded", "retrying", "dead"
    STATUS_CHOICES = [(s, s) for s in (QUEUED, RUNNING, SUCCEEDED, RETRYING, DEAD)]
    UNFINISHED = (QUEUED, RUNNING, RETRYING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=100, null=True, blank=True)  # null: a test delivery
    event_type = models.CharField(max_length=40)
    seq = models.BigIntegerField(null=True, blank=True)
    body = models.JSONField(default=dict)  # {type, timestamp, data}: the same bytes on every attempt
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=1)
    history = models.JSONField(default=list)  # the last attempts: {at, status_code, duration_ms, error, response}
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)  # last message sent (or due, for a retry)
    not_before = models.DateTimeField(null=True, blank=True)  # backoff
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)  # an attempt past this is presumed lost

    class Meta:
        indexes = [
            models.Index(fields=["webhook", "-created_at"], name="webhook_delivery_recent"),
            models.Index(fields=["status", "enqueued_at"], name="webhook_delivery_status"),
        ]
        constraints = [
            # A batch dispatched twice must not deliver twice: one delivery per (webhook, event).
            models.UniqueConstraint(
                fields=["webhook", "event_id"],
                condition=models.Q(event_id__isnull=False),
                name="webhook_once_per_event",
            )
        ]

    def __str__(self) -> str:
        return str(self.id)
