"""Functions, their immutable versions, and invocations."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class Function(models.Model):
    """One deployed function: a name and the version that is active now."""

    name = models.CharField(max_length=63, unique=True)
    active_version = models.ForeignKey(
        "FunctionVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_number = models.PositiveIntegerField(default=0)
    # Events with a sequence number above this one trigger the function: an event committed before
    # the function existed never invokes it, however far behind the dispatcher is.
    since_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class FunctionVersion(models.Model):
    """One deploy. Never changed after creation: rollback only points the function at it again."""

    NETWORK_CHOICES = [("none", "none"), ("egress", "egress")]
    RUNTIME_CHOICES = [("python", "python"), ("deno", "deno")]
    INVOKE_CHOICES = [("service", "service"), ("authenticated", "authenticated"), ("public", "public")]

    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    digest = models.CharField(max_length=64)  # sha256 of the files: names the sandbox folder
    bundle = models.BinaryField()  # the files, as a canonical zip
    # A Deno version's resolved npm:/jsr: dependencies (its Deno cache, a canonical zip; empty: none).
    # Stored with the version so any worker can run it (functions/dependencies.py).
    dependencies = models.BinaryField(default=b"", blank=True)
    size = models.PositiveIntegerField(default=0)
    files = models.JSONField(default=list)  # paths, for display
    entry = models.CharField(max_length=200, default="main")  # a module (python) or a path (deno: main.ts)
    # What runs the code: "python" (baas_runtime) or "deno" (TypeScript / JavaScript, baas_runtime/deno).
    runtime = models.CharField(max_length=10, choices=RUNTIME_CHOICES, default="python")
    timeout = models.PositiveIntegerField()
    memory = models.PositiveIntegerField()
    env = models.JSONField(default=dict)
    secret_names = models.JSONField(default=list)
    secrets_encrypted = models.TextField(blank=True, default="")
    network = models.CharField(max_length=10, choices=NETWORK_CHOICES, default="none")
    permissions = models.JSONField(default=list)
    max_retries = models.PositiveIntegerField(default=0)
    invoke = models.CharField(max_length=16, choices=INVOKE_CHOICES, default="service")
    concurrency = models.PositiveIntegerField(default=0)  # running at once; 0 = no limit
    rate_per_minute = models.PositiveIntegerField(default=0)  # starts per minute; 0 = no limit
    triggers = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["function", "number"], name="function_version_number")]

    def __str__(self) -> str:
        return f"{self.function_id}@{self.number}"

    @property
    def sandbox_key(self) -> str:
        """Pool key: a warm sandbox serves exactly one version."""
        return f"{self.pk}:{self.digest[:16]}"


class Invocation(models.Model):
    QUEUED, RUNNING, SUCCEEDED, FAILED, RETRYING, DEAD = (
        "queued", "running", "succeeded", "failed", "retrying", "dead",
    )  # fmt: skip
    STATUS_CHOICES = [(s, s) for s in (QUEUED, RUNNING, SUCCEEDED, FAILED, RETRYING, DEAD)]
    FINAL = (SUCCEEDED, FAILED, DEAD)
    UNFINISHED = (QUEUED, RUNNING, RETRYING)
    # Why a queued invocation has no message in flight (see functions/delivery.py).
    NOT_WAITING, WAIT_ORDER, WAIT_CONCURRENCY, WAIT_RATE = "", "order", "concurrency", "rate"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="invocations")
    version = models.ForeignKey(FunctionVersion, on_delete=models.CASCADE, related_name="invocations")
    trigger = models.CharField(max_length=40)
    handler = models.CharField(max_length=200)
    event_id = models.CharField(max_length=100, null=True, blank=True)
    event = models.JSONField(default=dict)
    depth = models.PositiveIntegerField(default=0)
    # The principal who called `invoke` (its `Principal.id`); "" for trigger runs and anonymous
    # callers. That caller may read the invocation (its status, result and public error).
    invoked_by = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    logs = models.TextField(blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    # --- delivery (Functions II) ---
    seq = models.BigIntegerField(null=True, blank=True)  # the event's sequence number
    order_key = models.CharField(max_length=32, null=True, blank=True)  # hash of topic + key: per-document order
    max_attempts = models.PositiveIntegerField(default=1)
    event_at = models.DateTimeField(null=True, blank=True)  # when the event committed (or the call arrived)
    enqueued_at = models.DateTimeField(null=True, blank=True)  # last message sent (or due, for a retry)
    not_before = models.DateTimeField(null=True, blank=True)  # backoff or rate quota
    waiting = models.CharField(max_length=12, blank=True, default="")  # NOT_WAITING or why it waits
    deadline = models.DateTimeField(null=True, blank=True)  # a run past this is presumed lost
    queue_delay_ms = models.PositiveIntegerField(null=True, blank=True)  # event_at -> first start
    # The latest attempt's sandbox: started for it (True) or an idle warm one (False); None before.
    cold_start = models.BooleanField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["function", "-created_at"], name="invocation_function_recent"),
            models.Index(fields=["status", "created_at"], name="invocation_status"),
            models.Index(fields=["function", "status"], name="invocation_function_status"),
            models.Index(fields=["function", "order_key", "seq"], name="invocation_document_order"),
            models.Index(fields=["function", "started_at"], name="invocation_function_starts"),
            models.Index(fields=["started_at"], name="invocation_starts"),
            # The log stream reads attempts in the order they ended (selectors.finished_attempts).
            models.Index(fields=["function", "finished_at", "id"], name="invocation_function_finished"),
        ]
        constraints = [
            # A trigger dispatched twice for one event must not invoke twice: one invocation per
            # (function, handler, event). Two handlers of one function may both match an event.
            models.UniqueConstraint(
                fields=["function", "handler", "event_id"],
                condition=Q(event_id__isnull=False),
                name="invocation_once_per_handler_event",
            )
        ]

    def __str__(self) -> str:
        return str(self.id)


class DispatchCursor(models.Model):
    """A single row: the last event-log sequence number the trigger dispatcher has dispatched.

    Moved forward in the same transaction that creates the invocations of the events it passes,
    so a crash leaves either both or neither (functions/dispatcher.py)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"dispatched through {self.seq}"
