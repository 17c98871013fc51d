"""Lists with filter, order, limit and cursor, and counts — read rules applied as SQL filters."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def ids(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [doc["id"] for doc in page["items"]]


def walk(client, url: str, limit: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Every id of a list, following next_cursor page by page."""
    seen: list[str] = []
    cursor = None
    separator = "&" if "?" in url else "?"
    while True:
        query = f"{url}{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(query)
        assert response.status_code == 200, response.content
        page = response.json()
        assert len(page["items"]) <= limit
        seen.extend(ids(page))
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


@pytest.fixture
def scores(make_collection, service_api):
    make_collection("scores", rules={"read": "true"})
    rows = [
        ("a", {"score": 10, "name": "Zed", "tag": "x"}),
        ("b", {"score": 30, "name": "amy", "tag": "y"}),
        ("c", {"score": 20, "name": "Bob", "tag": "x"}),
        ("d", {"score": 20.5, "name": "éve", "tag": "x"}),
        ("e", {"name": "no score", "tag": "y"}),
        ("f", {"score": "30", "name": "string score"}),
        ("g", {"score": None, "name": "null score"}),
    ]
    for doc_id, data in rows:
        assert service_api.post("/v1/db/scores", {"id": doc_id, "data": data}, format="json").status_code == 201
    return service_api


def test_the_default_order_is_by_id(scores):
    assert ids(scores.get("/v1/db/scores").json()) == ["a", "b", "c", "d", "e", "f", "g"]


def test_filter_selects_matching_documents(scores):
    assert ids(scores.get('/v1/db/scores?filter=tag == "x"').json()) == ["a", "c", "d"]
    # (`&&` must be URL-encoded in a query string; the client's data dict does that.)
    assert ids(scores.get("/v1/db/scores", {"filter": "score >= 20 && score < 30"}).json()) == ["c", "d"]
    assert ids(scores.get('/v1/db/scores?filter=starts_with(name, "no")').json()) == ["e"]
    assert ids(scores.get("/v1/db/scores?filter=!exists(score)").json()) == ["e"]


def test_order_by_a_number_puts_missing_and_null_first_then_numbers_then_strings(scores):
    assert ids(scores.get("/v1/db/scores?order=score").json()) == ["e", "g", "a", "c", "d", "b", "f"]
    # Ties (missing and null rank alike) fall back to the id, ascending.
    assert ids(scores.get("/v1/db/scores?order=-score").json()) == ["f", "b", "d", "c", "a", "e", "g"]


def test_strings_order_by_code_point(scores):
    names = [
        doc["data"]["name"]
        for doc in scores.get('/v1/db/scores?order=name&filter=tag == "x" || tag == "y"').json()["items"]
    ]
    assert names == ["Bob", "Zed", "amy", "no score", "éve"]


def test_order_on_several_fields_mixing_directions(scores):
    page = scores.get("/v1/db/scores?order=tag,-score&filter=exists(tag)").json()
    assert ids(page) == ["d", "c", "a", "b", "e"]


def test_order_by_own_fields(scores):
    assert ids(scores.get("/v1/db/scores?order=-$created_at").json()) == ["g", "f", "e", "d", "c", "b", "a"]
    assert ids(scores.get("/v1/db/scores?order=-$id").json()) == ["g", "f", "e", "d", "c", "b", "a"]


@pytest.mark.parametrize("order", ["", "score", "-score", "tag,-score", "-$created_at", "$version,name"])
def test_the_cursor_walks_every_document_once_in_any_order(scores, order):
    everything = ids(scores.get(f"/v1/db/scores?order={order}").json())
    assert walk(scores, f"/v1/db/scores?order={order}", limit=2) == everything
    assert walk(scores, f"/v1/db/scores?order={order}", limit=3) == everything


def test_count_applies_the_filter(scores):
    assert scores.get("/v1/db/scores/count").json() == {"count": 7}
    assert scores.get('/v1/db/scores/count?filter=tag == "x"').json() == {"count": 3}


def test_read_rules_filter_lists_and_counts_with_pagination_intact(notes, alice_api, bob_api):
    for index in range(5):
        alice_api.post("/v1/db/notes", {"id": f"a{index}", "data": {"public": index == 4}}, format="json")
        bob_api.post("/v1/db/notes", {"id": f"b{index}", "data": {"public": False}}, format="json")
    assert walk(bob_api, "/v1/db/notes", limit=2) == ["a4", "b0", "b1", "b2", "b3", "b4"]
    first = bob_api.get("/v1/db/notes?limit=2").json()
    assert len(first["items"]) == 2, "a page is full even though rows in between are hidden"
    assert bob_api.get("/v1/db/notes/count").json() == {"count": 6}
    assert alice_api.get("/v1/db/notes/count?filter=public == false").json() == {"count": 4}


def test_anonymous_lists_only_what_the_rule_lets_anyone_read(notes, alice_api, api):
    alice_api.post("/v1/db/notes", {"id": "pub", "data": {"public": True}}, format="json")
    alice_api.post("/v1/db/notes", {"id": "priv", "data": {"public": False}}, format="json")
    assert ids(api.get("/v1/db/notes").json()) == ["pub"]


def test_a_filter_may_use_auth_for_my_documents(notes, alice, alice_api, bob_api):
    alice_api.post("/v1/db/notes", {"id": "mine", "data": {"public": True}}, format="json")
    bob_api.post("/v1/db/notes", {"id": "his", "data": {"public": True}}, format="json")
    assert ids(alice_api.get("/v1/db/notes?filter=$owner == auth.id").json()) == ["mine"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("filter=score ==", "invalid_filter"),
        ("filter=request.data.x == 1", "invalid_filter"),
        ("order=$nope", "invalid_request"),
        ("order=a..b", "invalid_request"),
        ("order=a,b,c,d,e", "invalid_request"),
        ("limit=0", "invalid_request"),
        ("limit=5000", "invalid_request"),
        ("cursor=garbage!", "invalid_request"),
    ],
)
def test_bad_query_parameters_are_400(scores, query, code):
    response = scores.get(f"/v1/db/scores?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code


def test_a_cursor_from_another_order_is_refused(scores):
    cursor = scores.get("/v1/db/scores?order=score&limit=2").json()["next_cursor"]
    response = scores.get(f"/v1/db/scores?order=$id&limit=2&cursor={cursor}")
    assert response.status_code == 400
