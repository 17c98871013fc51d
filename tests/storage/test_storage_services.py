"""The Python API other services call (functions act through it with a function principal)."""

from __future__ import annotations

import pytest

from baas import events
from baas.errors import NotFound, PermissionDenied
from baas.events import Causation
from baas.principals import Principal, function_principal
from storage import services

FUNCTION = function_principal(function="thumbnails", version=3)


def test_a_function_writes_reads_signs_and_deletes_regardless_of_rules(backend, make_bucket):
    make_bucket("closed")  # no rules: closed to users
    meta = services.write_object(
        principal=FUNCTION, bucket="closed", path="thumbs/a.txt", data=b"small", content_type="text/plain"
    )
    assert meta["bucket"] == "closed" and meta["size"] == 5 and meta["owner"] is None
    assert services.read_object(principal=FUNCTION, bucket="closed", path="thumbs/a.txt") == b"small"
    url = services.sign_url(principal=FUNCTION, bucket="closed", path="thumbs/a.txt", expires_in=60)
    assert url.startswith("/v1/storage/objects/closed/thumbs/a.txt?expires=")
    services.delete_object(principal=FUNCTION, bucket="closed", path="thumbs/a.txt")
    with pytest.raises(NotFound):
        services.read_object(principal=FUNCTION, bucket="closed", path="thumbs/a.txt")


def test_causation_is_carried_into_the_event_log(backend, make_bucket):
    make_bucket("files")
    start = events.latest_seq()
    causation = Causation(invocation_id="inv-42", depth=2)
    services.write_object(principal=FUNCTION, bucket="files", path="a", data=b"x", causation=causation)
    services.delete_object(principal=FUNCTION, bucket="files", path="a", causation=causation)
    logged = events.read_after(start)
    assert [(e.kind, e.invocation_id, e.depth) for e in logged] == [("created", "inv-42", 2), ("deleted", "inv-42", 2)]
    assert logged[0].actor == {"kind": "function", "id": "function:thumbnails", "role": "service"}


def test_users_are_held_to_the_rules_through_the_python_api_too(backend, make_bucket):
    make_bucket("files")
    user = Principal(kind="user", id="u-1", role="user")
    with pytest.raises(PermissionDenied):
        services.write_object(principal=user, bucket="files", path="a", data=b"x")


def test_signed_urls_are_absolute_when_a_public_url_is_configured(backend, make_bucket, settings):
    settings.STORAGE_PUBLIC_URL = "https://api.example.com/"
    make_bucket("files")
    services.write_object(principal=FUNCTION, bucket="files", path="a b.txt", data=b"x")
    url = services.sign_url(principal=FUNCTION, bucket="files", path="a b.txt", expires_in=60)
    assert url.startswith("https://api.example.com/v1/storage/objects/files/a%20b.txt?expires=")


def test_write_object_sniffs_the_type_when_none_is_given(backend, make_bucket):
    make_bucket("files")
    meta = services.write_object(principal=FUNCTION, bucket="files", path="p", data=b"%PDF-1.4\n...")
    assert meta["content_type"] == "application/pdf"


@pytest.mark.parametrize("kind", ["anonymous", "user", "function"])
def test_bucket_reads_hold_non_managers_out_below_the_views_too(make_bucket, kind):
    from storage import selectors

    make_bucket("files")
    principal = {
        "anonymous": Principal(kind="anonymous"),
        "user": Principal(kind="user", id="u1", role="user"),
        "function": FUNCTION,
    }[kind]
    with pytest.raises(PermissionDenied):
        selectors.access_bucket(principal=principal, name="files")
    with pytest.raises(PermissionDenied):
        selectors.list_buckets(principal=principal, after=None, limit=10)
    with pytest.raises(PermissionDenied):
        services.update_bucket(principal=principal, name="files", changes={"public": True})


def test_the_realtime_read_predicate_follows_the_bucket(backend, make_bucket):
    make_bucket("closed")
    make_bucket("open", public=True)
    make_bucket("shared", rules={"read": "shared == true || $owner == auth.id"})
    assert services.read_rule_predicate(bucket="closed") is None
    anyone = services.read_rule_predicate(bucket="open")
    assert anyone({}, auth=None, now=None)
    shared = services.read_rule_predicate(bucket="shared")
    meta = services.write_object(
        principal=FUNCTION,
        bucket="shared",
        path="a.txt",
        data=b"x",
        content_type="text/plain",
        metadata={"shared": True},
    )
    assert shared(meta, auth={"id": "u1", "role": "user"}, now=None)
    assert not shared({**meta, "metadata": {}}, auth={"id": "u1", "role": "user"}, now=None)
    assert shared({**meta, "metadata": {}, "owner": "u1"}, auth={"id": "u1", "role": "user"}, now=None)
    with pytest.raises(NotFound):
        services.read_rule_predicate(bucket="nothing-here")
