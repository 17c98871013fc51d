"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key from FUNCTIONS_SECRETS_KEY or
derived from SECRET_KEY. They are decrypted only in the worker, right before a sandbox starts, and
handed to it over its private channel — never on a command line, never in a log, never in an
API answer (only their names are shown)."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(material: str) -> Fernet:
    try:
        return Fernet(material.encode())
    except ValueError:
        # Any other string: derive a key from it (domain-separated from other uses of the secret).
        derived = hashlib.sha256(b"baas-functions-secrets\0" + material.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(derived))


def _key() -> Fernet:
    return _fernet(settings.FUNCTIONS_SECRETS_KEY or settings.SECRET_KEY)


def encrypt(secrets: dict[str, str]) -> str:
    if not secrets:
        return ""
    return _key().encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_key().decrypt(token.encode()))
    except InvalidToken:
        raise RuntimeError("function secrets cannot be decrypted: FUNCTIONS_SECRETS_KEY changed?") from None
