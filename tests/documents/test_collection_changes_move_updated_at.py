"""Every change of a collection row moves its `updated_at`.

The one-statement create (documents/lean.py, `insert_document_sql`) writes a document with the
collection as this process last saw it, and inserts only `WHERE updated_at = <remembered>`: a
change of rules, schema or indexes that kept `updated_at` would let a create pass under the old
rules. So every service that writes a collection row must move it, even within one clock tick.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from documents import lean, services
from documents.models import Collection, Document

pytestmark = pytest.mark.django_db

OPEN_RULES = {"read": "true", "create": "true"}

CHANGES: dict[str, Callable[[], object]] = {
    "rules": lambda: services.update_collection(name="notes", changes={"rules": {"read": "false"}}),
    "the same rules again": lambda: services.update_collection(name="notes", changes={"rules": OPEN_RULES}),
    "schema": lambda: services.update_collection(name="notes", changes={"schema": {"type": "object"}}),
    "indexes": lambda: services.update_collection(name="notes", changes={"indexes": [{"fields": ["tag"]}]}),
    "nothing": lambda: services.update_collection(name="notes", changes={}),
    "delete": lambda: services.delete_collection(name="notes"),
    "delete and make again": lambda: (
        services.delete_collection(name="notes"),
        services.create_collection(name="notes", rules=OPEN_RULES),
    ),
}

# The services that write collection rows; a new one must join CHANGES above (and move updated_at).
WRITERS = {"create_collection", "update_collection", "delete_collection"}
READERS = {"get_collection", "list_collections"}


def insert_with_remembered(remembered: Collection) -> bool:
    """Whether the create path would write with a remembered collection: its statement on
    PostgreSQL (where it runs), its condition through the ORM on SQLite."""
    unchanged = Collection.objects.filter(pk=remembered.pk, updated_at=remembered.updated_at).exists()
    if connection.vendor != "postgresql":
        return unchanged
    sql, params = lean.insert_document_sql(collection=remembered, key="late", owner=None, data={}, now=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        wrote = bool(cursor.fetchall())
    assert wrote == unchanged
    return wrote


def test_the_remembered_collection_admits_a_create_while_nothing_changed():
    services.create_collection(name="notes", rules=OPEN_RULES)
    assert insert_with_remembered(lean.fresh_collection("notes"))
    assert Document.objects.filter(key="late").exists() == (connection.vendor == "postgresql")


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_every_collection_change_moves_updated_at_and_stops_a_remembered_create(change):
    services.create_collection(name="notes", rules=OPEN_RULES)
    remembered = lean.fresh_collection("notes")
    with CaptureQueriesContext(connection) as queries:
        change()
    stored = Collection.objects.filter(name="notes").first()
    if stored is not None:
        assert stored.updated_at > remembered.updated_at
    assert not insert_with_remembered(remembered)
    assert not Document.objects.exists()
    updates = [query["sql"] for query in queries if query["sql"].startswith('UPDATE "documents_collection"')]
    assert all('"updated_at"' in sql for sql in updates), updates


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_change_within_the_same_clock_tick_still_moves_updated_at(monkeypatch, change):
    frozen = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: frozen)
    services.create_collection(name="notes", rules=OPEN_RULES)
    remembered = lean.fresh_collection("notes")
    change()
    assert not insert_with_remembered(remembered)


def test_a_collection_made_with_indexes_moves_updated_at_past_its_first_row():
    """`create_collection` inserts the row, builds the indexes, then records them: a create that
    remembered the first row must not pass."""
    first_rows: list[datetime] = []

    def remember(sender, instance, created, **kwargs):  # type: ignore[no-untyped-def]
        if created:
            first_rows.append(instance.updated_at)

    post_save.connect(remember, sender=Collection)
    try:
        services.create_collection(name="notes", rules=OPEN_RULES, index_specs=[{"fields": ["tag"]}])
    finally:
        post_save.disconnect(remember, sender=Collection)
    assert len(first_rows) == 1
    assert Collection.objects.get(name="notes").updated_at > first_rows[0]


def test_every_service_that_writes_a_collection_is_covered_here():
    named = {
        name
        for name, value in vars(services).items()
        if not name.startswith("_")
        and name.endswith(("_collection", "_collections"))
        and getattr(value, "__module__", None) == services.__name__
    }
    assert named == WRITERS | READERS, "a new collection service: add it to CHANGES (or READERS if it only reads)"
