"""A row shaped like a document: own columns plus a JSON `data` column."""

from __future__ import annotations

from typing import Any

from django.db import models


class Record(models.Model):
    id = models.CharField(primary_key=True, max_length=64)
    owner = models.CharField(null=True, max_length=64)
    data = models.JSONField(default=dict)
    version = models.IntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        app_label = "rules_testapp"

    def __str__(self) -> str:
        return self.id

    def as_document(self) -> dict[str, Any]:
        """The API shape the predicate reads: own fields at the top, data under "data"."""
        return {
            "id": self.id,
            "owner": self.owner,
            "data": self.data,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
