"""Background tasks of auth: the emails, and the one way to queue them.

A task takes a kind and ids (never a token or a rendered message), re-loads the user and renders at
send time; a failing mail server is retried with exponential backoff and jitter
(AUTH_EMAIL_RETRY_BACKOFF_SECONDS, doubling, at most 10 minutes apart, AUTH_EMAIL_MAX_RETRIES
times)."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.db import transaction

from auth import emails

logger = logging.getLogger("baas.auth")


@shared_task(
    name="auth.tasks.send_email",
    ignore_result=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=settings.AUTH_EMAIL_RETRY_BACKOFF_SECONDS,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=settings.AUTH_EMAIL_MAX_RETRIES,
)
def send_email(kind: str, user_id: str | None = None, address: str | None = None) -> bool:
    """Send one auth email (see `auth.emails.deliver`); True when a message went out."""
    return emails.deliver(kind, user_id=user_id, address=address)


def send_email_after_commit(kind: str, *, user_id: str | None = None, address: str | None = None) -> None:
    """Send an email of `kind` (one of `auth.emails.KINDS`) once the current transaction commits:
    as a queued task (retried), or inline with AUTH_EMAIL_IN_BACKGROUND=false. Must be called
    inside the deciding transaction."""
    if kind not in emails.KINDS:
        raise ValueError(f"unknown auth email kind {kind!r}")

    def after_commit() -> None:
        if settings.AUTH_EMAIL_IN_BACKGROUND:
            send_email.delay(kind, user_id, address)
            return
        try:
            emails.deliver(kind, user_id=user_id, address=address)
        except Exception:
            logger.exception("sending an auth email failed", extra={"kind": kind})

    # robust: a broker that refuses the message is logged; the request that committed stands.
    transaction.on_commit(after_commit, robust=True)
