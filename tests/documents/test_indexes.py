"""Declared indexes become real expression indexes that filters use; unique ones are enforced."""

from __future__ import annotations

import pytest
from django.db import connection

from baas.rules.sql import to_q
from baas.rules.validate import parse_filter
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
