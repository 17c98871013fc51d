"""Standard Webhooks signatures (https://www.standardwebhooks.com): a receiver checks
`webhook-signature` with the endpoint's secret before trusting a delivery.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the signature is
`v1,<base64 of HMAC-SHA256 under the secret's bytes>`, and the secret is shown as
`whsec_<base64 of those bytes>`. While a rotated secret is still in its grace period, a delivery
carries one signature per secret, separated by spaces: a receiver that knows either accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_problem(secret: object) -> str | None:
    """Why a secret a client chose cannot be used, or None."""
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        return f"A secret is {PREFIX!r} followed by base64 (leave it out to get a generated one)."
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except ValueError:
        return f"The part after {PREFIX!r} is not base64."
    if not 24 <= len(key) <= 64:
        return "A secret must hold 24 to 64 bytes."
    return None


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(secrets_in_use: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one attempt (`secrets_in_use`: the current secret first)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets_in_use),
    }
