"""Declared indexes become real expression indexes that filters use; unique ones are enforced."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from baas.principals import Principal
from baas.rules.sql import to_q
from baas.rules.validate import parse_filter
from documents import lean
from documents.indexes import index_name
from documents.models import Collection, Document
from documents.rules import OWN_COLUMNS

pytestmark = pytest.mark.django_db


def plan(collection: str, filter_text: str) -> str:
    found = Collection.objects.get(name=collection)
    query = Document.objects.filter(collection=found).filter(
        to_q(parse_filter(filter_text), own_columns=OWN_COLUMNS, auth=None)
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: make the planner show its options
    return query.explain()


def kept_plan(statement: str, params: list[object]) -> str:
    """The plan the database keeps for `statement` prepared. PostgreSQL: the generic plan, the one
    it settles on once it stops planning for each execution's values. SQLite plans a statement
    when it is prepared, before any value is bound."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", params)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
    numbered = statement
    for position in range(1, len(params) + 1):
        numbered = numbered.replace("%s", f"${position}", 1)
    raw = connection.connection
    arguments = ", ".join(psycopg.sql.Literal(value).as_string(raw) for value in params)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: make the planner show its options
        cursor.execute(f"PREPARE planned AS {numbered}")
        try:
            cursor.execute(f"EXPLAIN EXECUTE planned({arguments})" if params else "EXPLAIN EXECUTE planned")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE planned")


def existing_indexes() -> set[str]:
    with connection.cursor() as cursor:
        return {
            name
            for name, info in connection.introspection.get_constraints(cursor, Document._meta.db_table).items()
            if info["index"]
        }


def test_a_declared_index_is_created_and_used_by_equality_and_range_filters(service_api):
    service_api.post(
        "/v1/db/collections",
        {"name": "items", "rules": {"read": "true"}, "indexes": [{"fields": ["tag"]}, {"fields": ["price"]}]},
        format="json",
    )
    for index in range(30):
        service_api.post("/v1/db/items", {"data": {"tag": f"t{index % 5}", "price": index}}, format="json")
    found = Collection.objects.get(name="items")
    tag_index = index_name(found, {"fields": ["tag"], "unique": False})
    price_index = index_name(found, {"fields": ["price"], "unique": False})
    assert {tag_index, price_index} <= existing_indexes()
    assert tag_index in plan("items", 'tag == "t1"')
    assert price_index in plan("items", "price > 25")
    result = service_api.get("/v1/db/items", {"filter": "price > 25", "order": "price"}).json()
    assert [doc["data"]["price"] for doc in result["items"]] == [26, 27, 28, 29]


def test_removing_an_index_from_the_list_drops_it(service_api):
    service_api.post("/v1/db/collections", {"name": "items", "indexes": [{"fields": ["tag"]}]}, format="json")
    found = Collection.objects.get(name="items")
    name = index_name(found, {"fields": ["tag"], "unique": False})
    assert name in existing_indexes()
    service_api.patch("/v1/db/collections/items", {"indexes": []}, format="json")
    assert name not in existing_indexes()


def test_a_unique_index_refuses_duplicates_with_409(service_api):
    service_api.post(
        "/v1/db/collections", {"name": "users2", "indexes": [{"fields": ["email"], "unique": True}]}, format="json"
    )
    assert service_api.post("/v1/db/users2", {"data": {"email": "a@x"}}, format="json").status_code == 201
    duplicate = service_api.post("/v1/db/users2", {"data": {"email": "a@x"}}, format="json")
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "conflict"
    other = service_api.post("/v1/db/users2", {"id": "b", "data": {"email": "b@x"}}, format="json")
    assert other.status_code == 201
    assert service_api.patch("/v1/db/users2/b", {"data": {"email": "a@x"}}, format="json").status_code == 409
    assert service_api.get("/v1/db/users2/count").json() == {"count": 2}


def test_a_unique_index_over_existing_duplicates_is_refused_and_leaves_nothing(service_api):
    service_api.post("/v1/db/collections", {"name": "items"}, format="json")
    service_api.post("/v1/db/items", {"data": {"sku": 1}}, format="json")
    service_api.post("/v1/db/items", {"data": {"sku": 1}}, format="json")
    before = existing_indexes()
    response = service_api.patch(
        "/v1/db/collections/items", {"indexes": [{"fields": ["sku"], "unique": True}]}, format="json"
    )
    assert response.status_code == 409
    assert existing_indexes() == before
    assert service_api.get("/v1/db/collections/items").json()["indexes"] == []


def test_indexes_of_one_collection_do_not_constrain_another(service_api):
    service_api.post("/v1/db/collections", {"name": "a", "indexes": [{"fields": ["k"], "unique": True}]}, format="json")
    service_api.post("/v1/db/collections", {"name": "b"}, format="json")
    assert service_api.post("/v1/db/a", {"data": {"k": 1}}, format="json").status_code == 201
    assert service_api.post("/v1/db/b", {"data": {"k": 1}}, format="json").status_code == 201
    assert service_api.post("/v1/db/b", {"data": {"k": 1}}, format="json").status_code == 201


@pytest.mark.parametrize("field", ["tag", "meta.tag"])
def test_the_prepared_list_and_count_keep_a_plan_that_uses_the_index(service_api, field):
    """The list and count statements are prepared once per connection: the plan kept for them
    (on PostgreSQL the generic plan, which it settles on instead of planning every execution anew,
    at a cost above running them) must be able to use the field's index — so the statement names
    the collection (the indexes are partial) and the field as constants, not parameters."""
    service_api.post(
        "/v1/db/collections",
        {"name": "items", "rules": {"read": "auth != null"}, "indexes": [{"fields": [field]}]},
        format="json",
    )
    # Enough documents, and statistics, that walking the collection in key order (the list's other
    # way to its first 21 rows) costs more than the index: 2,000 documents, 20 per value.
    collection = Collection.objects.get(name="items")
    now = timezone.now()
    Document.objects.bulk_create(
        Document(
            collection=collection, key=f"d{number:05}", data={"tag": f"t{number % 100}", "meta": {"tag": number % 100}},
            created_at=now, updated_at=now,
        )
        for number in range(2_000)
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE documents_document")
    found = lean.collection_named("items")
    assert found is not None
    principal = Principal(kind="user", id="someone", role="user")
    wanted = parse_filter(f'{field} == "t1"' if field == "tag" else f"{field} == 1")
    index = index_name(collection, {"fields": [field], "unique": False})

    page, params = lean.page_statement(found, principal, wanted, now, after_key=None, limit=21)
    assert index in kept_plan(page, params)
    condition, params = lean.readable_condition(found, principal, wanted, now)
    assert index in kept_plan(f'SELECT count(*) FROM "documents_document" WHERE {condition}', params)
