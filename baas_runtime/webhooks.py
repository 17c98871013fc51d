"""Helpers for receiving signed webhooks in an `@on_http` handler: HMAC checks and timestamps.

Most senders sign the raw body (or "timestamp.body") with a shared secret, HMAC-SHA256, and send
the digest in a header: Stripe (`Stripe-Signature: t=…,v1=<hex>`), GitHub
(`X-Hub-Signature-256: sha256=<hex>`), Shopify (base64), Standard Webhooks (`v1,<base64>`).
These helpers cover the common part; the sender's documentation says what is signed.

    from baas_runtime import HttpResponse, on_http
    from baas_runtime.webhooks import verify_hmac_signature

    @on_http
    def github(event, ctx):
        sent = event["headers"].get("x-hub-signature-256", "").removeprefix("sha256=")
        if not verify_hmac_signature(os.environ["GITHUB_SECRET"], event["body"], sent):
            return HttpResponse({"error": "bad signature"}, status=400)
        ...

Always verify the raw `event["body"]` (the bytes as sent), never `event["payload"]` serialised
again: a different key order or spacing changes the digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable

__all__ = ["hmac_digest", "signature_fields", "timestamp_is_fresh", "verify_hmac_signature"]


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def hmac_digest(secret: str | bytes, message: str | bytes, *, algorithm: str = "sha256") -> bytes:
    """The HMAC of `message` under `secret` (a str is UTF-8 encoded)."""
    return hmac.new(_as_bytes(secret), _as_bytes(message), getattr(hashlib, algorithm)).digest()


def verify_hmac_signature(
    secret: str | bytes,
    message: str | bytes,
    signatures: str | Iterable[str],
    *,
    algorithm: str = "sha256",
    encoding: str = "hex",
) -> bool:
    """Whether any of `signatures` (hex or base64 text, per `encoding`) is the HMAC of `message`.

    Compared in constant time (`hmac.compare_digest`), so the answer's timing says nothing about how
    close a guess was. Several signatures are accepted because senders send one per active secret
    while they rotate. Malformed signatures simply do not match."""
    expected = hmac_digest(secret, message, algorithm=algorithm)
    candidates = [signatures] if isinstance(signatures, str) else list(signatures)
    matched = False
    for candidate in candidates:
        given = _decode(candidate, encoding)
        # Every candidate is compared (no early return), for the same reason as compare_digest.
        matched |= given is not None and hmac.compare_digest(given, expected)
    return matched


def _decode(signature: str, encoding: str) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(signature.strip())
        if encoding == "base64":
            return base64.b64decode(signature.strip(), validate=True)
    except (ValueError, binascii.Error):
        return None
    raise ValueError(f"encoding must be 'hex' or 'base64', not {encoding!r}")


def signature_fields(header: str) -> dict[str, list[str]]:
    """A `key=value,key=value` signature header as a dict of lists (keys may repeat):
    `signature_fields("t=1700000000,v1=ab,v1=cd")` → `{"t": ["1700000000"], "v1": ["ab", "cd"]}`."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if sep and key:
            fields.setdefault(key, []).append(value)
    return fields


def timestamp_is_fresh(timestamp: str | int | float, *, tolerance: float = 300, now: float | None = None) -> bool:
    """Whether a Unix timestamp (seconds) lies within `tolerance` seconds of now, either way: a
    signed timestamp outside it is a replay of an old delivery (or a badly wrong clock)."""
    try:
        sent = float(timestamp)
    except (TypeError, ValueError):
        return False
    if sent != sent:  # NaN
        return False
    current = time.time() if now is None else now
    return abs(current - sent) <= tolerance
