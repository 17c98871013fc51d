"""Kernel models: the event log."""

from __future__ import annotations

from typing import Any

from django.db import models


class Event(models.Model):
    """One observable change (a document or object created, updated or deleted).

    Appended in the same transaction as the change itself (transactional outbox), through
    `baas.events.append` only: that function also guarantees that sequence numbers become visible
    in commit order, which is what lets consumers keep a plain "last seq seen" cursor.
    """

    seq = models.BigAutoField(primary_key=True)
    topic = models.CharField(max_length=300)  # "db/<collection>" or "storage/<bucket>"
    kind = models.CharField(max_length=16)  # created | updated | deleted
    key = models.CharField(max_length=1100)  # document id or object path
    before = models.JSONField(null=True)
    after = models.JSONField(null=True)
    actor = models.JSONField(null=True)  # {kind, id, role} of the principal; null for the system
    invocation_id = models.CharField(max_length=64, null=True)  # the function invocation that caused it
    depth = models.PositiveIntegerField(default=0)  # length of the causation chain
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["topic", "seq"], name="baas_event_topic_seq_idx"),
            models.Index(fields=["created_at"], name="baas_event_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.seq} {self.topic} {self.kind} {self.key}"


class EventLogState(models.Model):
    """A single row: how far retention has pruned the log (readers behind it must resync)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    pruned_through = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"pruned through {self.pruned_through}"


class IdempotencyKey(models.Model):
    """A client's `Idempotency-Key` and the first answer to it (baas/idempotency.py).

    `scope` hashes the caller, method, path and key; `fingerprint` hashes method, path and body.
    While the first request runs the row is `running` until `locked_until` (a crashed request's
    row frees itself then); afterwards it holds the answer until `expires_at`.
    """

    scope = models.CharField(max_length=64, unique=True)
    fingerprint = models.CharField(max_length=64)
    running = models.BooleanField(default=True)
    locked_until = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    status = models.PositiveSmallIntegerField(null=True)
    headers = models.JSONField(default=dict)
    body = models.BinaryField(default=b"")

    def __str__(self) -> str:
        return f"{self.scope[:12]} {'running' if self.running else self.status}"


class AppendOnly(Exception):
    """An attempt to change or remove an audit entry: the audit log only grows."""


class AuditQuerySet(models.QuerySet["AuditEntry"]):
    """Refuses the bulk paths (`.update()`, `.delete()`): no code may rewrite history."""

    def update(self, **kwargs: Any) -> int:
        raise AppendOnly("The audit log is append-only: entries cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnly("The audit log is append-only: entries cannot be deleted.")


class AuditEntry(models.Model):
    """One administrative change: who did what to which target, with the state before and after.

    Written only through `baas.audit.record`, inside the service call that made the change (so the
    admin API, the console and the command line are all covered). Append-only: the model refuses
    updates and deletes, and on PostgreSQL a trigger refuses them too (migration 0003).
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(auto_now_add=True)
    # The acting principal: kind (staff, service, function, user, system) and its id and email.
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=200, default="")
    actor_email = models.CharField(max_length=254, default="")
    action = models.CharField(max_length=100)  # e.g. "collection.rules.update"
    target = models.CharField(max_length=1100)  # e.g. "collection:posts", "user:<uuid>"
    before = models.JSONField(null=True)
    after = models.JSONField(null=True)
    request_id = models.CharField(max_length=100, default="")

    objects = AuditQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["action", "id"], name="baas_audit_action_idx"),
            models.Index(fields=["target", "id"], name="baas_audit_target_idx"),
            models.Index(fields=["actor_id", "id"], name="baas_audit_actor_idx"),
            models.Index(fields=["at"], name="baas_audit_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.action} {self.target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnly("The audit log is append-only: entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnly("The audit log is append-only: entries cannot be deleted.")
