"""The runtime's side of webhooks, without a sandbox: `HttpResponse` builds the one wire the worker
judges (baas_runtime/_http.py), and `baas_runtime.webhooks` checks signatures and timestamps."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from baas_runtime import HttpResponse
from baas_runtime._http import InvalidAnswer, check_answer, event_for_handler
from baas_runtime.webhooks import signature_fields, timestamp_is_fresh, verify_hmac_signature


def _wire(response: HttpResponse) -> tuple[int, list[tuple[str, str]], bytes]:
    return check_answer(response.to_wire())


@pytest.mark.parametrize(
    ("body", "content_type", "raw"),
    [
        ({"a": 1}, "application/json", b'{"a":1}'),
        ([1, 2], "application/json", b"[1,2]"),
        ("héllo", "text/plain; charset=utf-8", "héllo".encode()),
        (b"\x00\xff", "application/octet-stream", b"\x00\xff"),
        (None, None, b""),
    ],
)
def test_each_body_type_gets_its_content_type(body: object, content_type: str | None, raw: bytes) -> None:
    status, headers, sent = _wire(HttpResponse(body))
    assert status == 200 and sent == raw
    assert dict(headers).get("content-type") == content_type


def test_a_content_type_given_wins_and_names_are_lower_case() -> None:
    _, headers, _ = _wire(HttpResponse(b"<p/>", headers={"Content-Type": "text/html", "X-Trace": "1"}))
    assert headers == [("content-type", "text/html"), ("x-trace", "1")]


@pytest.mark.parametrize("status", [0, 99, 100, 199, 600, True, "200", 200.0])
def test_a_bad_status_is_refused_at_once(status: object) -> None:
    with pytest.raises(InvalidAnswer, match="status must be a whole number from 200 to 599"):
        HttpResponse(status=status)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Set-Cookie", "content-length", "Access-Control-Allow-Origin", "X-Baas-Anything"])
def test_a_platform_header_is_refused_at_once(name: str) -> None:
    with pytest.raises(InvalidAnswer, match="may not set"):
        HttpResponse("x", headers={name: "v"})


def test_a_bodyless_status_refuses_a_body() -> None:
    with pytest.raises(InvalidAnswer):
        HttpResponse("x", status=204)
    assert _wire(HttpResponse(status=304))[0] == 304


def test_the_wire_refuses_unknown_fields_and_large_bodies() -> None:
    with pytest.raises(InvalidAnswer, match="unknown field"):
        check_answer({"$http": {"status": 200, "cookies": []}})
    big = {"$http": {"status": 200, "body_base64": base64.b64encode(b"x" * 11).decode()}}
    with pytest.raises(InvalidAnswer, match="at most 10"):
        check_answer(big, max_body_bytes=10)


def test_the_event_gets_its_body_as_bytes() -> None:
    event = event_for_handler({"method": "POST", "body_base64": base64.b64encode(b"\x01\x02").decode()})
    assert event == {"method": "POST", "body": b"\x01\x02"}
    assert event_for_handler({"payload": 1}) == {"payload": 1}  # an /invoke event: untouched


SECRET = "whsec_test"


def _sign(message: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def test_a_good_signature_matches_and_a_bad_one_does_not() -> None:
    assert verify_hmac_signature(SECRET, b"body", _sign(b"body"))
    assert not verify_hmac_signature(SECRET, b"body!", _sign(b"body"))
    assert not verify_hmac_signature("other", b"body", _sign(b"body"))
    assert not verify_hmac_signature(SECRET, b"body", "not hex")
    assert not verify_hmac_signature(SECRET, b"body", [])


def test_any_of_several_signatures_may_match() -> None:
    assert verify_hmac_signature(SECRET, b"m", ["00" * 32, _sign(b"m")])


def test_base64_signatures() -> None:
    digest = base64.b64encode(hmac.new(b"k", b"m", hashlib.sha256).digest()).decode()
    assert verify_hmac_signature("k", "m", digest, encoding="base64")
    assert not verify_hmac_signature("k", "m", digest)  # not hex


def test_signature_fields_keep_repeated_keys() -> None:
    assert signature_fields("t=1, v1=ab,v1=cd,junk") == {"t": ["1"], "v1": ["ab", "cd"]}


def test_timestamps_outside_the_tolerance_are_stale() -> None:
    now = time.time()
    assert timestamp_is_fresh(str(int(now)), tolerance=300)
    assert not timestamp_is_fresh(now - 301, tolerance=300, now=now)
    assert not timestamp_is_fresh(now + 301, tolerance=300, now=now)
    assert not timestamp_is_fresh("", tolerance=300)
    assert not timestamp_is_fresh("nan", tolerance=300)
