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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class FunctionVersion(models.Model):
    """One deploy. Never changed after creation: rollback only points the function at it again."""

    NETWORK_CHOICES = [("none", "none"), ("egress", "egress")]
    INVOKE_CHOICES = [("service", "service"), ("authenticated", "authenticated"), ("public", "public")]

    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    digest = models.CharField(max_length=64)  # sha256 of the files: names the sandbox folder
    bundle = models.BinaryField()  # the files, as a canonical zip
    size = models.PositiveIntegerField(default=0)
    files = models.JSONField(default=list)  # paths, for display
    entry = models.CharField(max_length=200, default="main")
    timeout = models.PositiveIntegerField()
    memory = models.PositiveIntegerField()
    env = models.JSONField(default=dict)
    secret_names = models.JSONField(default=list)
    secrets_encrypted = models.TextField(blank=True, default="")
    network = models.CharField(max_length=10, choices=NETWORK_CHOICES, default="none")
    permissions = models.JSONField(default=list)
    max_retries = models.PositiveIntegerField(default=0)
    invoke = models.CharField(max_length=16, choices=INVOKE_CHOICES, default="service")
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

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="invocations")
    version = models.ForeignKey(FunctionVersion, on_delete=models.CASCADE, related_name="invocations")
    trigger = models.CharField(max_length=40)
    handler = models.CharField(max_length=200)
    event_id = models.CharField(max_length=100, null=True, blank=True)
    event = models.JSONField(default=dict)
    depth = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    logs = models.TextField(blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["function", "-created_at"], name="invocation_function_recent"),
            models.Index(fields=["status", "created_at"], name="invocation_status"),
        ]
        constraints = [
            # A trigger dispatched twice for one event must not invoke twice (Functions II).
            models.UniqueConstraint(
                fields=["function", "event_id"], condition=Q(event_id__isnull=False), name="invocation_once_per_event"
            )
        ]

    def __str__(self) -> str:
        return str(self.id)
