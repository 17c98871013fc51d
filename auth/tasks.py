"""Background tasks of auth: the emails. They take a kind and ids (never a token or a rendered
message), re-load the user and render at send time; a failing mail server is retried with
exponential backoff and jitter (AUTH_EMAIL_RETRY_BACKOFF_SECONDS, doubling, at most 10 minutes
apart, AUTH_EMAIL_MAX_RETRIES times)."""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.conf import settings

from auth import emails


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
