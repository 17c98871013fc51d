"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256), under keys that can rotate.

The key is FUNCTIONS_SECRETS_KEY, else derived from SECRET_KEY. Decryption also tries the older
keys (`MultiFernet`): SECRET_KEY when FUNCTIONS_SECRETS_KEY is set, and every key in
SECRET_KEY_FALLBACKS. So rotating is: set the new key, put the old one in SECRET_KEY_FALLBACKS,
restart. Every stored secret stays readable; new deploys encrypt under the new key, and a version
whose secrets were read with an old key is re-encrypted under the new one right then
(`refresh()`, called by the worker), so the fallback can be removed once every version in use has
run. Without the old key a version's secrets are unreadable: its invocations fail with
`secrets_unreadable` (never a 500, never a run without its secrets).

Secrets are decrypted only in the worker, right before a sandbox starts, and handed to it over its
private channel — never on a command line, never in a log, never in an API answer (only their
names are shown)."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from functions.errors import InvocationCode


class SecretsUnreadable(Exception):
    """No configured key decrypts a version's secrets (the old key left SECRET_KEY_FALLBACKS)."""

    code = InvocationCode.SECRETS_UNREADABLE
    message = (
        "This function version's secrets cannot be decrypted with FUNCTIONS_SECRETS_KEY / SECRET_KEY or any key "
        "in SECRET_KEY_FALLBACKS: put the key they were stored under in SECRET_KEY_FALLBACKS, or deploy again "
        "with the secrets."
    )


@lru_cache(maxsize=16)
def _fernet(material: str) -> Fernet:
    try:
        return Fernet(material.encode())
    except ValueError:
        # Any other string: derive a key from it (domain-separated from other uses of the secret).
        derived = hashlib.sha256(b"baas-functions-secrets\0" + material.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(derived))


def _materials() -> list[str]:
    """The current key first, then the older ones decryption still accepts."""
    current = settings.FUNCTIONS_SECRETS_KEY or settings.SECRET_KEY
    older = [settings.SECRET_KEY] if settings.FUNCTIONS_SECRETS_KEY else []
    older += list(getattr(settings, "SECRET_KEY_FALLBACKS", []) or [])
    materials = [current]
    for material in older:
        if material and material not in materials:
            materials.append(material)
    return materials


def _keys() -> MultiFernet:
    return MultiFernet([_fernet(material) for material in _materials()])


def encrypt(secrets: dict[str, str]) -> str:
    if not secrets:
        return ""
    return _keys().encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict[str, str]:
    """Raises SecretsUnreadable when no configured key fits."""
    if not token:
        return {}
    try:
        return json.loads(_keys().decrypt(token.encode()))
    except InvalidToken:
        raise SecretsUnreadable(SecretsUnreadable.message) from None


def refresh(token: str) -> str | None:
    """`token` re-encrypted under the current key if an older key was needed to read it, else
    None (nothing to write). Raises SecretsUnreadable."""
    if not token:
        return None
    try:
        _fernet(_materials()[0]).decrypt(token.encode())
        return None
    except InvalidToken:
        pass
    try:
        return _keys().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretsUnreadable(SecretsUnreadable.message) from None
