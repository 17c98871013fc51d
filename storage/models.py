"""Buckets, the metadata of stored objects, and the journal of blobs that may need removing.

The bytes of an object live in the object backend (Django's default storage) under `key`, a name
that is never reused: an overwrite writes a new key and retires the old one. A key that no object
row references must have a `BlobJournal` row until its bytes are gone — that invariant is what
lets the sweep remove every orphan (see docs/storage.md, "Nothing left behind").
"""

from __future__ import annotations

from typing import Any

from django.db import models


class Bucket(models.Model):
    name = models.CharField(max_length=63, unique=True)
    public = models.BooleanField(default=False)
    # Bytes; null = only the global STORAGE_MAX_OBJECT_BYTES applies.
    max_size = models.BigIntegerField(null=True, blank=True)
    # Exact types ("image/png") and wildcards ("image/*"); empty = any type.
    allowed_types = models.JSONField(default=list, blank=True)
    # {"read": "<expr>" | null, "create": …, "update": …, "delete": …}; a missing rule denies.
    rules = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "storage"

    def __str__(self) -> str:
        return self.name


class StoredObject(models.Model):
    bucket = models.ForeignKey(Bucket, on_delete=models.PROTECT, related_name="stored_objects")
    path = models.CharField(max_length=1024)
    # Where the bytes are in the object backend.
    key = models.CharField(max_length=255, unique=True)
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=255)
    # sha256 of the bytes, hex.
    etag = models.CharField(max_length=64)
    owner = models.CharField(max_length=64, null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        app_label = "storage"
        constraints = [models.UniqueConstraint(fields=["bucket", "path"], name="storage_object_unique_path")]

    def __str__(self) -> str:
        return f"{self.bucket_id}:{self.path}"

    def as_rules_doc(self, bucket_name: str | None = None) -> dict[str, Any]:
        """The shape the rules predicate reads: own fields on top, user metadata as the data."""
        return {
            "path": self.path,
            "owner": self.owner,
            "size": self.size,
            "content_type": self.content_type,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "metadata": self.metadata,
        }


class BlobJournal(models.Model):
    """A backend key whose bytes may be orphaned: written by an upload not yet committed, or
    retired by an overwrite or delete and awaiting removal. The sweep deletes the bytes of rows
    older than the grace period that no object references, then the row."""

    UPLOADING, RETIRED = "uploading", "retired"

    key = models.CharField(max_length=255, unique=True)
    reason = models.CharField(max_length=16)
    touched_at = models.DateTimeField(db_index=True)

    class Meta:
        app_label = "storage"

    def __str__(self) -> str:
        return f"{self.reason}:{self.key}"
