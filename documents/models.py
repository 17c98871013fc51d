"""Collections and their JSON documents."""

from __future__ import annotations

from django.db import models


class Collection(models.Model):
    """A named set of documents with its access rules, optional JSON Schema and declared indexes.

    `rules` maps each operation (read, create, update, delete) to an expression of the rules
    language, or to null/absent for "nobody but the service role and staff".
    """

    name = models.CharField(max_length=63, unique=True)
    rules = models.JSONField(default=dict)
    schema = models.JSONField(null=True, blank=True)
    indexes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class Document(models.Model):
    """One document. `key` is its API id, unique within the collection."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=128)
    owner = models.CharField(max_length=64, null=True)
    data = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint("collection", "key", name="documents_document_collection_key")]
        indexes = [
            models.Index(fields=["collection", "created_at", "key"], name="documents_doc_created_idx"),
            models.Index(fields=["collection", "updated_at", "key"], name="documents_doc_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.collection_id}/{self.key}"
