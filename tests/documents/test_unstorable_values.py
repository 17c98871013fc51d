"""Values no store can represent never become documents (issues 14.6, 14.9, 14.13, 14.14), whether
they come over REST (the lean path and DRF's) or as Python values (functions' writes go through
`documents.services`); storable values at the edges sort and filter alike on both databases."""

from __future__ import annotations

from typing import Any

import pytest

from baas.errors import ValidationFailed
from baas.principals import service_principal
from documents import services
from documents.models import Document

pytestmark = pytest.mark.django_db

OPEN = {"read": "true", "create": "true", "update": "true", "delete": "true"}
SERVICE = service_principal(key_id="k", name="tests")

# Ordered as the API sorts numbers; all of them storable (integers within ±(2^53 - 1), finite doubles).
EDGE_NUMBERS = [
    -1.7976931348623157e308, -1e30, -(2**53 - 1), -9007199254740990.0, -1, -5e-324, 0, 5e-324, 0.1, 1, 2.5, 3,
    9007199254740990, 2**53 - 1, 9007199254740992.0, 123456789012345680.0, 1e30, 1.7976931348623157e308,
]  # fmt: skip
UNSTORABLE = {
    "huge_integer": 10**400,
    "unsafe_integer": 2**53,
    "unsafe_negative": -(2**53) - 1,
    "infinity": float("inf"),
    "nan": float("nan"),
    "nul": "approved\x00 (not really)",
    "lone_surrogate": "\ud800",
}


@pytest.fixture
def posts(db: None) -> None:
    services.create_collection(name="posts", rules=OPEN)


@pytest.mark.parametrize("name", sorted(UNSTORABLE))
def test_a_function_cannot_write_an_unstorable_value(posts, name: str) -> None:  # type: ignore[no-untyped-def]
    value = UNSTORABLE[name]
    for data in ({"x": value}, {"a": {"b": [1, value]}}):
        with pytest.raises(ValidationFailed) as caught:
            services.create_document(principal=SERVICE, collection="posts", data=data)
        assert caught.value.details["data"][0]["pointer"] in ("/x", "/a/b/1")
    services.create_document(principal=SERVICE, collection="posts", doc_id="p", data={"x": 1})
    with pytest.raises(ValidationFailed):
        services.set_document(principal=SERVICE, collection="posts", doc_id="p", data={"x": value})
    with pytest.raises(ValidationFailed):
        services.update_document(principal=SERVICE, collection="posts", doc_id="p", data={"x": value})
    with pytest.raises(ValidationFailed):
        services.update_document(principal=SERVICE, collection="posts", doc_id="p", ops={"t": {"array_union": [value]}})
    assert list(Document.objects.values_list("key", "data", "version")) == [("p", {"x": 1}, 1)]


def test_a_lone_surrogate_key_is_refused(posts) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed):
        services.create_document(principal=SERVICE, collection="posts", data={"\udc00": 1})
    assert not Document.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": {"n": ' + b"1" * 400 + b"}}",
        b'{"data": {"n": 1e400}}',
        b'{"data": {"n": 9007199254740992}}',
        b'{"data": {"status": "approved\\u0000x"}}',
        b'{"data": {"status": "\\udfff"}}',
    ],
)
def test_rest_refuses_unstorable_values_on_both_paths(posts, service_api, csrf_staff_api, body: bytes) -> None:  # type: ignore[no-untyped-def]
    for client in (service_api, csrf_staff_api):  # the lean bearer path, DRF's dispatch
        response = client.generic("POST", "/v1/db/posts", body, content_type="application/json")
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"]["data"][0]["pointer"] in ("/data/n", "/data/status")
    assert not Document.objects.exists()


def test_a_list_ordered_by_a_field_sorts_edge_numbers_like_python(posts, service_api) -> None:  # type: ignore[no-untyped-def]
    """Issue 14.13: a 400-digit number made every list ordered by its field a 500 on PostgreSQL.
    It is refused now; what can be stored sorts the same on both databases, page by page."""
    refused = service_api.post("/v1/db/posts", {"data": {"n": 10**400}}, format="json")
    assert refused.status_code == 400
    for index, number in enumerate(reversed(EDGE_NUMBERS)):
        created = service_api.post("/v1/db/posts", {"id": f"d{index:02d}", "data": {"n": number}}, format="json")
        assert created.status_code == 201, created.content
    for order, expected in (("n", EDGE_NUMBERS), ("-n", list(reversed(EDGE_NUMBERS)))):
        seen: list[Any] = []
        cursor = None
        while True:
            params = {"order": order, "limit": 5, **({"cursor": cursor} if cursor else {})}
            page = service_api.get("/v1/db/posts", params)
            assert page.status_code == 200, page.content
            seen += [doc["data"]["n"] for doc in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == expected, order


@pytest.mark.parametrize(
    ("stored", "start", "by", "expected"),
    [
        ("int", 2**53 - 1, 1, None),
        ("int", -(2**53 - 1), -1, None),
        ("int", 0, 2**53, None),
        ("float", 1.7976931348623157e308, 1.7976931348623157e308, None),
        ("int", 2**53 - 2, 1, 2**53 - 1),
        ("float", 1e30, 1, 1e30),
    ],
)
def test_increment_past_what_can_be_stored_is_refused(posts, service_api, stored, start, by, expected) -> None:  # type: ignore[no-untyped-def]
    service_api.post("/v1/db/posts", {"id": "c", "data": {"n": start}}, format="json")
    response = service_api.patch("/v1/db/posts/c", {"ops": {"n": {"increment": by}}}, format="json")
    if expected is None:
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] in ("validation_error", "invalid_request")
        assert Document.objects.get(key="c").version == 1
        assert Document.objects.get(key="c").data == {"n": start}
    else:
        assert response.status_code == 200, response.content
        assert response.json()["data"]["n"] == expected


def test_a_create_rule_cannot_be_passed_with_a_nul_suffix(service_api, api) -> None:  # type: ignore[no-untyped-def]
    """Issue 14.9: on SQLite `status == "approved"` matched "approved\\u0000…" in SQL only; such a
    string is refused at write, so the list and the single get always agree."""
    rules = {**OPEN, "read": 'status == "approved"', "create": 'status == "approved" || status == "draft"'}
    services.create_collection(name="posts", rules=rules)
    sneaky = api.generic(
        "POST", "/v1/db/posts", b'{"data": {"status": "approved\\u0000 but not"}}', content_type="application/json"
    )
    assert sneaky.status_code == 400
    created = api.post("/v1/db/posts", {"id": "ok", "data": {"status": "approved"}}, format="json")
    assert created.status_code == 201
    listed = [doc["id"] for doc in api.get("/v1/db/posts").json()["items"]]
    assert listed == ["ok"] and api.get("/v1/db/posts/ok").status_code == 200


def test_a_big_literal_compares_like_the_stored_double(posts, service_api) -> None:  # type: ignore[no-untyped-def]
    """Issue 14.9: `x == 1e30` — an integer 10^30 cannot be stored; a stored double 1e30 matches the
    literal 1e30 in SQL (list) and in the predicate (get with a read rule) alike."""
    assert service_api.post("/v1/db/posts", {"data": {"x": 10**30}}, format="json").status_code == 400
    service_api.post("/v1/db/posts", {"id": "big", "data": {"x": 1e30}}, format="json")
    service_api.post("/v1/db/posts", {"id": "safe", "data": {"x": 2**53 - 1}}, format="json")
    for text, expected in (
        ("x == 1e30", ["big"]),
        ("x == 1000000000000000000000000000000.0", ["big"]),
        ("x > 9007199254740990", ["big", "safe"]),
        ("x == 9007199254740991", ["safe"]),
        ("x == 9007199254740991.0", ["safe"]),
        ("x < 9007199254740992.0", ["safe"]),
    ):
        listed = service_api.get("/v1/db/posts", {"filter": text})
        assert listed.status_code == 200, (text, listed.content)
        assert sorted(doc["id"] for doc in listed.json()["items"]) == expected, text
    assert service_api.get("/v1/db/posts", {"filter": "x == 1000000000000000000000000000000"}).status_code == 400
