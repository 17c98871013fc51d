"""The predicate follows the semantics table of docs/rules.md (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from baas.rules import matches, parse_filter, parse_rule, to_predicate
from tests.rules.semantics_table import ANONYMOUS_ROWS, NOW, ROWS, USER, document


@pytest.mark.parametrize(("text", "data", "holds"), ROWS)
def test_the_predicate_follows_the_semantics_table(text: str, data: dict, holds: bool) -> None:
    predicate = to_predicate(parse_filter(text))
    assert predicate(document(data), auth=USER, now=NOW) is holds


@pytest.mark.parametrize(("text", "data", "holds"), ANONYMOUS_ROWS)
def test_for_an_anonymous_caller_auth_fields_are_missing(text: str, data: dict, holds: bool) -> None:
    predicate = to_predicate(parse_filter(text))
    assert predicate(document(data, owner=None), auth=None, now=NOW) is holds


def test_request_data_is_read_on_writes() -> None:
    rule = to_predicate(parse_rule("auth != null && size(request.data.title) > 0", "create"))
    assert rule(document({}), auth=USER, request={"data": {"title": "hi"}})
    assert not rule(document({}), auth=USER, request={"data": {"title": ""}})
    assert not rule(document({}), auth=USER, request={"data": {}})
    assert not rule(document({}), auth=None, request={"data": {"title": "hi"}})


def test_upload_rules_read_the_size_and_type_of_the_request() -> None:
    rule = to_predicate(parse_rule("request.size < 1000 && starts_with(request.content_type, 'image/')", "create"))
    assert rule({}, request={"size": 10, "content_type": "image/png"})
    assert not rule({}, request={"size": 10, "content_type": "text/plain"})
    assert not rule({}, request=None)


def test_timestamps_may_be_given_as_datetimes_or_iso_strings() -> None:
    predicate = to_predicate(parse_filter("$created_at == '2024-03-01T12:00:00.000000Z' && $created_at < now"))
    as_string = document({}) | {"created_at": "2024-03-01T14:00:00+02:00"}
    assert predicate(as_string, now="2024-06-01T00:00:00Z")
    assert predicate(document({}), now=datetime(2024, 6, 1, tzinfo=UTC))
    assert not predicate(document({}), now=datetime(2024, 1, 1, tzinfo=UTC))


def test_now_defaults_to_the_current_time() -> None:
    assert to_predicate(parse_filter("now > '2020' && now < '2200'"))(document({}))


def test_a_document_without_data_has_every_field_missing() -> None:
    predicate = to_predicate(parse_filter("exists(a) || a == null"))
    assert not predicate({"id": "x"})
    assert not predicate({"id": "x", "data": None})
    assert not predicate({"id": "x", "data": ["a"]})


def test_data_key_lets_storage_read_object_metadata() -> None:
    predicate = to_predicate(parse_filter("kind == 'avatar'"), data_key="metadata")
    assert predicate({"path": "a.png", "metadata": {"kind": "avatar"}})


def test_matches_tells_added_modified_and_removed_apart() -> None:
    predicate = to_predicate(parse_filter("status == 'open'"))
    before, after = document({"status": "open"}), document({"status": "closed"})
    assert (matches(predicate, None), matches(predicate, before)) == (False, True)  # added
    assert (matches(predicate, before), matches(predicate, after)) == (True, False)  # removed
    assert not matches(predicate, None)  # a deleted document matches nothing


def test_the_predicate_never_mutates_the_document() -> None:
    doc = document({"tags": ["b", "a"], "o": {"k": 1}})
    snapshot = repr(doc)
    to_predicate(parse_filter("tags contains 'a' && size(o) == 1 && o.k == 1"))(doc, auth=USER)
    assert repr(doc) == snapshot
