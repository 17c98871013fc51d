"""Abuse limits of the auth endpoints: rate limits per client address and per account, and the
lockout after repeated failed logins. Numbers come from settings (AUTH_RATE_LIMITS, AUTH_LOCKOUT_*);
docs/auth.md explains them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings

from baas import ratelimit
from baas.errors import RateLimited


@dataclass(frozen=True)
class Client:
    """Who is on the other end of a request, as far as limits and session records care."""

    ip: str | None = None
    user_agent: str = ""


NO_CLIENT = Client()


def _digest(value: str) -> str:
    # Emails may hold characters some caches refuse in keys, and need not sit in the cache in clear.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _rate(name: str) -> ratelimit.Rate:
    limit, window = settings.AUTH_RATE_LIMITS[name]
    return ratelimit.Rate(limit=limit, window=window)


def check(action: str, *, client: Client, account: str | None = None) -> None:
    """Count one `action` ("signup", "token", …) for the client's address and for the account.

    Raises RateLimited when either is over its limit. The address limit is checked first, so a
    client over it does not consume the account's budget.
    """
    counted = []
    if client.ip:
        counted.append((f"auth:{action}:ip:{client.ip}", _rate(f"{action}:ip")))
    if account:
        counted.append((f"auth:{action}:account:{_digest(account)}", _rate(f"{action}:account")))
    if counted:
        ratelimit.hit_all(counted)


def _lock_keys(email: str, ip: str | None) -> tuple[str, str]:
    account = _digest(email)
    return f"auth:lock:account:{account}", f"auth:lock:pair:{account}:{ip or '-'}"


def check_not_locked(*, email: str, client: Client) -> None:
    """Refuse a login attempt for a locked account (or address+account) before any hashing."""
    remaining = ratelimit.blocked_for(*_lock_keys(email, client.ip))
    if remaining:
        raise RateLimited(
            "Too many failed sign-ins for this account; try again later or reset the password.",
            retry_after=remaining,
        )


def record_login_failure(*, email: str, client: Client) -> None:
    """Count a failed login; past a threshold, lock the pair or the whole account for a while."""
    window = settings.AUTH_LOCKOUT_WINDOW_SECONDS
    account_lock, pair_lock = _lock_keys(email, client.ip)
    account = _digest(email)
    pair_failures = ratelimit.count(f"auth:fail:pair:{account}:{client.ip or '-'}", window=window)
    account_failures = ratelimit.count(f"auth:fail:account:{account}", window=window)
    if pair_failures >= settings.AUTH_LOCKOUT_ADDRESS_THRESHOLD:
        ratelimit.block(pair_lock, seconds=settings.AUTH_LOCKOUT_SECONDS)
    if account_failures >= settings.AUTH_LOCKOUT_ACCOUNT_THRESHOLD:
        ratelimit.block(account_lock, seconds=settings.AUTH_LOCKOUT_SECONDS)


def clear_login_failures(*, email: str, client: Client) -> None:
    """After a successful login or a password reset: forget the failures and lift the locks of the
    account and of this address (other addresses' locks expire on their own)."""
    window = settings.AUTH_LOCKOUT_WINDOW_SECONDS
    account = _digest(email)
    ratelimit.reset(f"auth:fail:account:{account}", window=window)
    ratelimit.reset(f"auth:fail:pair:{account}:{client.ip or '-'}", window=window)
    ratelimit.unblock(*_lock_keys(email, client.ip))
