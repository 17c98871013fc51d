"""Webhook signing secrets at rest: encrypted under the functions' secrets key (rotation of that
key works as for function secrets, functions/secrets.py)."""

from __future__ import annotations

from django.utils import timezone

from functions import services as functions
from webhooks.models import Webhook


def encrypt(secret: str) -> str:
    return functions.encrypt_secrets({"secret": secret})


def decrypt(token: str) -> str:
    return functions.decrypt_secrets(token)["secret"]


def in_use(webhook: Webhook) -> list[str]:
    """The current secret, then the previous one while its grace period lasts."""
    found = [decrypt(webhook.secret_encrypted)]
    if webhook.previous_secret_encrypted and webhook.previous_until and webhook.previous_until > timezone.now():
        found.append(decrypt(webhook.previous_secret_encrypted))
    return found
