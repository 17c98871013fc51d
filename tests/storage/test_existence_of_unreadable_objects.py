"""A caller who may not read an object learns nothing about whether its path is taken: GET, HEAD,
DELETE and refused uploads answer an existing-but-unreadable path exactly as an absent one.
See docs/storage.md, "Existence of objects"."""

from __future__ import annotations

from typing import Any

import pytest

from tests.storage.conftest import put

RULES = {
    "read": "$owner == auth.id",
    "create": "auth != null",
    "update": "$owner == auth.id",
    "delete": "$owner == auth.id",
}


@pytest.fixture
def etag(backend, alice, make_bucket):  # type: ignore[no-untyped-def]
    make_bucket("private", rules=RULES)
    make_bucket("open", public=True)
    response = put(alice.client, "private", "alice/taken.txt", b"secret")
    assert response.status_code == 201
    return response.json()["etag"]


def answer(response: Any, path: str) -> tuple[int, str]:
    body = response.content.decode() if not getattr(response, "streaming", False) else ""
    return response.status_code, body.replace(path, "<path>")


PROBES = {
    "get": lambda c, p, e: c.get(f"/v1/storage/objects/private/{p}"),
    "head": lambda c, p, e: c.head(f"/v1/storage/objects/private/{p}"),
    "get if-none-match": lambda c, p, e: c.get(f"/v1/storage/objects/private/{p}", HTTP_IF_NONE_MATCH=f'"{e}"'),
    "delete": lambda c, p, e: c.delete(f"/v1/storage/objects/private/{p}"),
    "delete if-match": lambda c, p, e: c.delete(f"/v1/storage/objects/private/{p}", HTTP_IF_MATCH=f'"{e}"'),
    "delete stale if-match": lambda c, p, e: c.delete(f"/v1/storage/objects/private/{p}", HTTP_IF_MATCH='"x"'),
    "put if-none-match star": lambda c, p, e: put(c, "private", p, b"mine", HTTP_IF_NONE_MATCH="*"),
    "put if-none-match etag": lambda c, p, e: put(c, "private", p, b"mine", HTTP_IF_NONE_MATCH=f'"{e}"'),
    "put if-match": lambda c, p, e: put(c, "private", p, b"mine", HTTP_IF_MATCH=f'"{e}"'),
    "put if-match star": lambda c, p, e: put(c, "private", p, b"mine", HTTP_IF_MATCH="*"),
    "sign": lambda c, p, e: c.post(f"/v1/storage/sign/private/{p}", {"expires_in": 60}, format="json"),
}


# A caller the create rule admits learns whether a path is free by creating there (inherent:
# the write succeeds only on a free path); the precondition probes are checked for the others.
CREATOR_LEARNS = {"put if-none-match star", "put if-none-match etag"}
CASES = [("anonymous", probe) for probe in sorted(PROBES)] + [
    ("bob", probe) for probe in sorted(PROBES) if probe not in CREATOR_LEARNS
]


@pytest.mark.parametrize(("persona", "probe"), CASES)
def test_a_stranger_cannot_tell_taken_from_absent(etag, personas, persona, probe):
    client = personas[persona].client
    existing = answer(PROBES[probe](client, "alice/taken.txt", etag), "alice/taken.txt")
    absent = answer(PROBES[probe](client, "alice/absent.txt", etag), "alice/absent.txt")
    assert existing == absent, probe
    assert existing[0] in (401, 403), existing


def test_a_plain_upload_by_a_non_creator_is_refused_alike(etag, anonymous):
    existing = answer(put(anonymous.client, "private", "alice/taken.txt", b"x"), "alice/taken.txt")
    absent = answer(put(anonymous.client, "private", "alice/absent.txt", b"x"), "alice/absent.txt")
    assert existing == absent
    assert existing[0] == 403


def test_a_multipart_upload_by_a_non_creator_is_refused_alike_before_its_body(etag, anonymous):
    """The multipart check made from the URL and headers (before the body) answers a taken path as
    it answers a free one: one wording for a refused create and a refused replace."""
    from tests.storage.test_upload_form_bounds import file_part

    def upload(path: str) -> Any:
        body = file_part(b"mine")
        return anonymous.client.generic(
            "POST",
            f"/v1/storage/objects/private/{path}",
            body,
            content_type="multipart/form-data; boundary=b0und4ry",
        )

    existing = answer(upload("alice/taken.txt"), "alice/taken.txt")
    absent = answer(upload("alice/absent.txt"), "alice/absent.txt")
    assert existing == absent
    assert existing[0] == 403


def test_the_owner_service_and_public_readers_still_get_404_and_412(etag, alice, service, bob):
    assert alice.client.get("/v1/storage/objects/private/alice/absent.txt").status_code in (403, 404)
    assert service.client.get("/v1/storage/objects/private/alice/absent.txt").status_code == 404
    assert service.client.delete("/v1/storage/objects/private/alice/absent.txt").status_code == 404
    assert put(alice.client, "private", "alice/taken.txt", b"new", HTTP_IF_NONE_MATCH="*").status_code == 412
    assert bob.client.get("/v1/storage/objects/open/nothing.txt").status_code == 404


def test_an_unknown_bucket_is_404_for_everyone(etag, bob):
    assert bob.client.get("/v1/storage/objects/nobucket/a.txt").status_code == 404


@pytest.fixture
def hidden(backend, alice, make_bucket):  # type: ignore[no-untyped-def]
    """A read rule that depends on the object: a free path is readable (404), a hidden object is
    not — so a hidden object must look absent."""
    make_bucket("posts", rules={**RULES, "read": "hidden != true || $owner == auth.id"})
    response = put(alice.client, "posts", "alice/taken.txt", b"secret", HTTP_X_BAAS_METADATA='{"hidden": true}')
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("persona", ["bob", "anonymous"])
@pytest.mark.parametrize("method", ["get", "head", "delete"])
def test_an_object_hidden_by_its_metadata_looks_absent(hidden, personas, persona, method):
    client = personas[persona].client
    existing = answer(getattr(client, method)("/v1/storage/objects/posts/alice/taken.txt"), "alice/taken.txt")
    absent = answer(getattr(client, method)("/v1/storage/objects/posts/alice/absent.txt"), "alice/absent.txt")
    assert existing == absent
    assert existing[0] == 404
