"""Signed URLs: made by baas, GET only, no other credentials, refused when expired or tampered."""

from __future__ import annotations

import time
import urllib.request
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from storage import signing
from tests.storage.conftest import error_code, put


@pytest.fixture
def private_object(backend, service, make_bucket):  # type: ignore[no-untyped-def]
    make_bucket("vault", rules={"read": "$owner == auth.id", "create": "auth != null"})
    put(service.client, "vault", "reports/q1.txt", b"quarterly numbers")


def _sign(client, path: str = "reports/q1.txt", **body):  # type: ignore[no-untyped-def]
    return client.post(f"/v1/storage/sign/vault/{path}", body or {"expires_in": 60}, format="json")


def _relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_a_signed_url_serves_the_object_to_a_caller_without_credentials(private_object, service, anonymous):
    response = _sign(service.client)
    assert response.status_code == 200
    url = response.json()["url"]
    assert url.startswith("http://testserver/v1/storage/objects/vault/reports/q1.txt?")
    assert set(parse_qs(urlsplit(url).query)) == {"expires", "signature"}
    assert anonymous.client.get("/v1/storage/objects/vault/reports/q1.txt").status_code == 403
    download = anonymous.client.get(_relative(url))
    assert download.status_code == 200
    assert download.getvalue() == b"quarterly numbers"


def test_a_signed_url_honours_range_requests(private_object, service, anonymous):
    url = _relative(_sign(service.client).json()["url"])
    response = anonymous.client.get(url, HTTP_RANGE="bytes=0-8")
    assert response.status_code == 206
    assert response.getvalue() == b"quarterly"


def test_an_expired_signed_url_is_refused_with_signed_url_expired(private_object, service, anonymous, monkeypatch):
    url = _relative(_sign(service.client, expires_in=5).json()["url"])
    later = time.time() + 6
    monkeypatch.setattr(signing.time, "time", lambda: later)
    response = anonymous.client.get(url)
    assert response.status_code == 403
    assert error_code(response) == "signed_url_expired"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda q: {**q, "expires": str(int(q["expires"]) + 3600)},
        lambda q: {**q, "signature": q["signature"][:-1] + ("0" if q["signature"][-1] != "0" else "1")},
        lambda q: {**q, "signature": ""},
        lambda q: {"expires": q["expires"]},
        lambda q: {**q, "expires": "soon"},
    ],
    ids=["later-expiry", "changed-signature", "empty-signature", "no-signature", "bad-expiry"],
)
def test_a_tampered_signed_url_is_refused_with_signed_url_invalid(private_object, service, anonymous, tamper):
    url = _sign(service.client).json()["url"]
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    response = anonymous.client.get(f"{parts.path}?{urlencode(tamper(query))}")
    assert response.status_code == 403
    assert error_code(response) == "signed_url_invalid"


def test_a_signature_for_one_path_does_not_open_another(private_object, service, anonymous):
    put(service.client, "vault", "reports/q2.txt", b"other numbers")
    parts = urlsplit(_sign(service.client).json()["url"])
    response = anonymous.client.get(f"/v1/storage/objects/vault/reports/q2.txt?{parts.query}")
    assert response.status_code == 403
    assert error_code(response) == "signed_url_invalid"


@pytest.mark.parametrize("method", ["put", "delete", "post"])
def test_a_signed_url_grants_get_only(private_object, service, anonymous, method):
    url = _relative(_sign(service.client).json()["url"])
    response = getattr(anonymous.client, method)(url, data=b"overwrite", content_type="text/plain")
    assert response.status_code == 403
    assert error_code(response) == "signed_url_invalid"
    assert service.client.get("/v1/storage/objects/vault/reports/q1.txt").getvalue() == b"quarterly numbers"


def test_only_callers_who_may_read_the_object_can_sign_it(private_object, service, alice, anonymous):
    assert _sign(anonymous.client).status_code == 403
    assert _sign(alice.client).status_code == 403
    put(alice.client, "vault", "mine.txt", b"alice's")
    assert _sign(alice.client, "mine.txt").status_code == 200


def test_signing_a_missing_object_answers_404(private_object, service):
    assert _sign(service.client, "nothing.txt").status_code == 404


@pytest.mark.parametrize("expires_in", [0, -5, "60", 10**9, True])
def test_expires_in_must_be_a_sane_number_of_seconds(private_object, service, expires_in):
    response = _sign(service.client, expires_in=expires_in)
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    details = response.json()["error"]["details"]
    assert list(details) == ["expires_in"]
    assert [entry["code"] for entry in details["expires_in"]] == ["invalid"]


def test_an_unknown_field_in_a_sign_body_is_refused_by_name(private_object, service):
    response = service.client.post(
        "/v1/storage/sign/vault/reports/q1.txt", {"expires_in": 60, "method": "PUT"}, format="json"
    )
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    details = response.json()["error"]["details"]
    assert list(details) == ["method"]
    assert [entry["code"] for entry in details["method"]] == ["unknown_field"]


@pytest.mark.parametrize("body", [[60], "60"])
def test_a_sign_body_that_is_not_an_object_is_an_invalid_request(private_object, service, body):
    response = service.client.post("/v1/storage/sign/vault/reports/q1.txt", body, format="json")
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"


def test_with_redirects_on_s3_a_signed_download_goes_to_an_s3_presigned_url(
    private_object, backend, service, anonymous, settings
):
    settings.STORAGE_S3_REDIRECT_SIGNED = True
    response = anonymous.client.get(_relative(_sign(service.client).json()["url"]))
    if backend.kind == "local":
        assert response.status_code == 200  # nothing to redirect to: served directly
        return
    assert response.status_code == 302
    with urllib.request.urlopen(response["Location"], timeout=10) as s3_answer:
        assert s3_answer.read() == b"quarterly numbers"
