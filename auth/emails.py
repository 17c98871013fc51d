"""One-time email tokens (verify an address, reset a password) and the emails that carry them.

Tokens are 256 random bits, stored as SHA-256, single use (claimed with a conditional UPDATE, so
two concurrent uses cannot both succeed) and expiring. Mail goes out after the transaction commits
— inline in dev, from a background thread in production so that the response time does not tell
whether a message was sent.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from auth.models import EmailToken, User

logger = logging.getLogger("baas.auth")

_sender = ThreadPoolExecutor(max_workers=2, thread_name_prefix="auth-mail")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(*, user: User, purpose: str) -> str:
    """Create a token for the user's current address, voiding their older unused ones of this purpose.

    Must run inside the transaction that decides to send it.
    """
    lifetime = (
        settings.AUTH_VERIFY_TOKEN_SECONDS if purpose == EmailToken.VERIFY else settings.AUTH_RECOVER_TOKEN_SECONDS
    )
    now = timezone.now()
    EmailToken.objects.filter(user=user, purpose=purpose, used_at__isnull=True).update(used_at=now)
    secret = secrets.token_urlsafe(32)
    EmailToken.objects.create(
        user=user,
        purpose=purpose,
        email=user.email or "",
        token_hash=_hash(secret),
        expires_at=now + timedelta(seconds=lifetime),
    )
    return secret


def claim_token(*, secret: str, purpose: str) -> EmailToken | None:
    """Mark the token used and return it, or None if it is unknown, used, expired or void.

    Must run inside a transaction: the claim is undone if what follows fails.
    """
    now = timezone.now()
    token = (
        EmailToken.objects.select_related("user")
        .filter(token_hash=_hash(secret), purpose=purpose, used_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or token.user.email is None or token.email.lower() != token.user.email.lower():
        return None
    claimed = EmailToken.objects.filter(pk=token.pk, used_at__isnull=True).update(used_at=now)
    return token if claimed == 1 else None


def _link(template: str | None, secret: str) -> str:
    return template.replace("{token}", secret) if template else ""


def _body(intro: str, link: str, secret: str, outro: str) -> str:
    action = f"Open this link: {link}" if link else f"Enter this code in the app: {secret}"
    return f"{intro}\n\n{action}\n\n{outro}\n"


def send_verification(*, to: str, secret: str) -> None:
    hours = settings.AUTH_VERIFY_TOKEN_SECONDS // 3600 or 1
    _send_after_commit(
        to=to,
        subject="Confirm your email address",
        body=_body(
            "Please confirm that this is your email address.",
            _link(settings.AUTH_VERIFY_URL, secret),
            secret,
            f"The link works once and expires in {hours} hour(s). If you did not ask, ignore this.",
        ),
    )


def send_recovery(*, to: str, secret: str) -> None:
    minutes = settings.AUTH_RECOVER_TOKEN_SECONDS // 60 or 1
    _send_after_commit(
        to=to,
        subject="Reset your password",
        body=_body(
            "Someone (hopefully you) asked to reset the password of this account.",
            _link(settings.AUTH_RECOVER_URL, secret),
            secret,
            f"The link works once and expires in {minutes} minute(s). If you did not ask, ignore "
            "this: your password stays as it is.",
        ),
    )


def send_account_exists(*, to: str) -> None:
    """Told to the owner of an address someone tried to sign up with again."""
    _send_after_commit(
        to=to,
        subject="Someone tried to sign up with your email address",
        body="Someone tried to create an account with this address, which already has one.\n\n"
        "If it was you: sign in instead, or reset your password if you forgot it.\n"
        "If it was not you: nothing changed and you can ignore this message.\n",
    )


def _send_after_commit(*, to: str, subject: str, body: str) -> None:
    message = EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])

    def deliver() -> None:
        try:
            message.send()
        except Exception:
            logger.exception("sending an auth email failed", extra={"subject": subject})

    def after_commit() -> None:
        if settings.AUTH_EMAIL_IN_BACKGROUND:
            _sender.submit(deliver)
        else:
            deliver()

    transaction.on_commit(after_commit)
