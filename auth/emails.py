"""One-time email tokens (verify an address, reset a password, confirm a new address) and the
emails that carry them.

Tokens are 256 random bits, stored as SHA-256, single use (claimed with a conditional UPDATE, so
two concurrent uses cannot both succeed) and expiring.

Mail is a task on the Celery queue (`auth.tasks.send_email`), published after the transaction
commits (`auth.tasks.send_email_after_commit`): the request records only *what* to send (a kind,
a user id, maybe an address); the task re-loads the user, issues the token and renders the
message at send time (`deliver`, below), and is retried with exponential backoff when the mail
server fails. So an acknowledged request's email survives a
restart of the web process, and no secret travels through the broker. With
`AUTH_EMAIL_IN_BACKGROUND=false` the same delivery runs inline after commit (tests, debugging).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from auth.models import EmailToken, User

# What a task may be asked to send.
VERIFY = "verify"
RECOVER = "recover"
EMAIL_CHANGE = "email_change"
ACCOUNT_EXISTS = "account_exists"
EMAIL_CHANGED = "email_changed"
KINDS = (VERIFY, RECOVER, EMAIL_CHANGE, ACCOUNT_EXISTS, EMAIL_CHANGED)

_LIFETIMES = {
    EmailToken.VERIFY: "AUTH_VERIFY_TOKEN_SECONDS",
    EmailToken.RECOVER: "AUTH_RECOVER_TOKEN_SECONDS",
    EmailToken.EMAIL_CHANGE: "AUTH_EMAIL_CHANGE_TOKEN_SECONDS",
}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(*, user: User, purpose: str, email: str | None = None) -> str:
    """Create a token for `email` (default: the user's current address), voiding the user's older
    unused ones of this purpose. Must run inside the transaction that decides to send it."""
    now = timezone.now()
    EmailToken.objects.filter(user=user, purpose=purpose, used_at__isnull=True).update(used_at=now)
    secret = secrets.token_urlsafe(32)
    EmailToken.objects.create(
        user=user,
        purpose=purpose,
        email=email or user.email or "",
        token_hash=_hash(secret),
        expires_at=now + timedelta(seconds=getattr(settings, _LIFETIMES[purpose])),
    )
    return secret


def _usable(secret: str, purpose: str) -> EmailToken | None:
    return (
        EmailToken.objects.select_related("user")
        .filter(token_hash=_hash(secret), purpose=purpose, used_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )


def _claim(token: EmailToken) -> EmailToken | None:
    claimed = EmailToken.objects.filter(pk=token.pk, used_at__isnull=True).update(used_at=timezone.now())
    return token if claimed == 1 else None


def claim_token(*, secret: str, purpose: str) -> EmailToken | None:
    """Mark a verify/reset token used and return it, or None if it is unknown, used, expired or
    void (the user's address changed since). Must run inside a transaction: the claim is undone
    if what follows fails."""
    token = _usable(secret, purpose)
    if token is None or token.user.email is None or token.email.lower() != token.user.email.lower():
        return None
    return _claim(token)


def claim_email_change(*, secret: str) -> EmailToken | None:
    """Mark an email-change token used and return it (its `email` is the new address); None if it
    is unknown, used, expired or void. Must run inside a transaction."""
    token = _usable(secret, EmailToken.EMAIL_CHANGE)
    return _claim(token) if token is not None else None


def void_email_changes(*, user: User) -> None:
    """Forget the user's pending address change (their address was set another way)."""
    EmailToken.objects.filter(user=user, purpose=EmailToken.EMAIL_CHANGE, used_at__isnull=True).update(
        used_at=timezone.now()
    )


# --- sending -------------------------------------------------------------------------------------


def deliver(kind: str, *, user_id: str | None, address: str | None) -> bool:
    """Build and send one email from the current state; False when there is nothing to send any
    more (the user is gone, already verified, the address taken meanwhile…). Raises on a mail
    server failure, so that the task is retried (a retry issues a fresh token)."""
    message = _message(kind, user_id=user_id, address=address)
    if message is None:
        return False
    message.send()
    return True


def _message(kind: str, *, user_id: str | None, address: str | None) -> EmailMessage | None:
    if kind == ACCOUNT_EXISTS and address:
        return _email(address, *_ACCOUNT_EXISTS)
    if kind == EMAIL_CHANGED and address:
        return _email(address, *_EMAIL_CHANGED)
    user = User.objects.filter(pk=user_id).first() if user_id else None
    if user is None or user.disabled:
        return None
    if kind == VERIFY:
        if not user.email or user.email_verified:
            return None
        with transaction.atomic():
            secret = issue_token(user=user, purpose=EmailToken.VERIFY)
        return _verification(user.email, secret)
    if kind == RECOVER:
        if not user.email:
            return None
        with transaction.atomic():
            secret = issue_token(user=user, purpose=EmailToken.RECOVER)
        return _recovery(user.email, secret)
    if kind == EMAIL_CHANGE and address:
        return _email_change(user, address)
    return None


def _email_change(user: User, address: str) -> EmailMessage | None:
    """The confirmation link for a new address — or, when another account has that address, a
    notice to it instead (the requester's answer was the same either way)."""
    if user.email and user.email.lower() == address.lower():
        return None
    if User.objects.filter(email__iexact=address).exclude(pk=user.pk).exists():
        return _email(address, *_CHANGE_TO_TAKEN)
    with transaction.atomic():
        secret = issue_token(user=user, purpose=EmailToken.EMAIL_CHANGE, email=address)
    hours = settings.AUTH_EMAIL_CHANGE_TOKEN_SECONDS // 3600 or 1
    return _email(
        address,
        "Confirm your new email address",
        _body(
            "Someone (hopefully you) asked to use this address for their account.",
            _link(settings.AUTH_VERIFY_URL, secret),
            secret,
            f"The account's address changes only when this is confirmed. The link works once and "
            f"expires in {hours} hour(s). If you did not ask, ignore this.",
        ),
    )


def _verification(to: str, secret: str) -> EmailMessage:
    hours = settings.AUTH_VERIFY_TOKEN_SECONDS // 3600 or 1
    return _email(
        to,
        "Confirm your email address",
        _body(
            "Please confirm that this is your email address.",
            _link(settings.AUTH_VERIFY_URL, secret),
            secret,
            f"The link works once and expires in {hours} hour(s). If you did not ask, ignore this.",
        ),
    )


def _recovery(to: str, secret: str) -> EmailMessage:
    minutes = settings.AUTH_RECOVER_TOKEN_SECONDS // 60 or 1
    return _email(
        to,
        "Reset your password",
        _body(
            "Someone (hopefully you) asked to reset the password of this account.",
            _link(settings.AUTH_RECOVER_URL, secret),
            secret,
            f"The link works once and expires in {minutes} minute(s). If you did not ask, ignore "
            "this: your password stays as it is.",
        ),
    )


_ACCOUNT_EXISTS = (
    "Someone tried to sign up with your email address",
    "Someone tried to create an account with this address, which already has one.\n\n"
    "If it was you: sign in instead, or reset your password if you forgot it.\n"
    "If it was not you: nothing changed and you can ignore this message.\n",
)
_CHANGE_TO_TAKEN = (
    "Someone tried to use your email address",
    "Someone asked to move another account to this address, which already has an account.\n\n"
    "Nothing changed. If it was not you, you can ignore this message.\n",
)
_EMAIL_CHANGED = (
    "Your email address was changed",
    "The email address of your account was changed to a new one, confirmed from that address.\n\n"
    "If this was not you, reset your password from the new address or contact the operator.\n",
)


def _link(template: str | None, secret: str) -> str:
    return template.replace("{token}", secret) if template else ""


def _body(intro: str, link: str, secret: str, outro: str) -> str:
    action = f"Open this link: {link}" if link else f"Enter this code in the app: {secret}"
    return f"{intro}\n\n{action}\n\n{outro}\n"


def _email(to: str, subject: str, body: str) -> EmailMessage:
    return EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
