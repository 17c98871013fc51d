"""Signed download URLs made and checked by baas itself.

Format: `/v1/storage/objects/<bucket>/<path>?expires=<unix seconds>&signature=<hex>` where the
signature is HMAC-SHA256, keyed by a key derived from SECRET_KEY (Django's `salted_hmac` with a
storage-only salt, so the key is never the raw secret and SECRET_KEY_FALLBACKS keep URLs valid
through a key rotation), over `GET\\n<bucket>\\n<path>\\n<expires>`. Changing any of the three, or
the method, breaks the signature; an expired one is refused even when its signature is right.
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlencode

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

from storage.errors import SignedUrlExpired, SignedUrlInvalid

_SALT = "baas.storage.signed-url.v1"


def _signature(bucket: str, path: str, expires: int, secret: str | None = None) -> str:
    message = f"GET\n{bucket}\n{path}\n{expires}"
    return salted_hmac(_SALT, message, secret=secret, algorithm="sha256").hexdigest()


def object_url_path(bucket: str, path: str) -> str:
    return f"/v1/storage/objects/{quote(bucket, safe='')}/{quote(path, safe='/')}"


def signed_path(bucket: str, path: str, *, expires_at: int) -> str:
    """The URL (path and query, no host) of a signed GET for the object."""
    query = urlencode({"expires": expires_at, "signature": _signature(bucket, path, expires_at)})
    return f"{object_url_path(bucket, path)}?{query}"


def verify(bucket: str, path: str, *, expires: str | None, signature: str | None, now: float | None = None) -> None:
    """Raise SignedUrlInvalid / SignedUrlExpired (both 403) unless the pair is one baas made."""
    if not expires or not signature or not expires.isdigit() or len(expires) > 12:
        raise SignedUrlInvalid(details={"reason": "malformed"})
    expires_at = int(expires)
    valid = any(
        constant_time_compare(signature, _signature(bucket, path, expires_at, secret))
        for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    )
    if not valid:
        raise SignedUrlInvalid(details={"reason": "signature_mismatch"})
    if (now if now is not None else time.time()) >= expires_at:
        raise SignedUrlExpired(details={"expired_at": expires_at})
