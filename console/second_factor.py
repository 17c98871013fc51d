"""Operators' optional second factor: a time-based one-time password (TOTP, RFC 6238, pyotp), as
authenticator apps make. Enrolled from the console (the secret and its otpauth:// URI are shown
once, then confirmed with a code); once enrolled, signing in asks for a code after the password.
"""

from __future__ import annotations

import hmac
import time

import pyotp
from django.db import transaction

from baas import audit
from baas.principals import Principal
from console.models import SecondFactor

ISSUER = "baas console"
# Codes of the previous and next 30-second step are accepted too: clocks drift a little.
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app reads (typed in, or as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def is_enabled(user_id: str) -> bool:
    return SecondFactor.objects.filter(user_id=user_id).exists()


def _matching_step(secret: str, code: str, after_step: int) -> int | None:
    """The time step whose code `code` is (within the drift), if later than `after_step`."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp, now = pyotp.TOTP(secret), int(time.time()) // 30
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if step > after_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def enable(*, user_id: str, secret: str, code: str, actor: Principal) -> bool:
    """Enrol `secret` for the operator if `code` is its current code; False if it is not."""
    step = _matching_step(secret, code, after_step=0)
    if step is None:
        return False
    with transaction.atomic():
        SecondFactor.objects.update_or_create(user_id=user_id, defaults={"secret": secret, "last_step": step})
        audit.record(actor=actor, action="operator.totp.enable", target=f"user:{user_id}")
    return True


def disable(*, user_id: str, code: str, actor: Principal) -> bool:
    """Remove the operator's second factor, if `code` is its current code."""
    if not verify(user_id=user_id, code=code):
        return False
    with transaction.atomic():
        SecondFactor.objects.filter(user_id=user_id).delete()
        audit.record(actor=actor, action="operator.totp.disable", target=f"user:{user_id}")
    return True


def verify(*, user_id: str, code: str) -> bool:
    """Whether `code` is the operator's current code, not used before (it is used up now)."""
    with transaction.atomic():
        factor = SecondFactor.objects.select_for_update().filter(user_id=user_id).first()
        if factor is None:
            return False
        step = _matching_step(factor.secret, code, after_step=factor.last_step)
        if step is None:
            return False
        factor.last_step = step
        factor.save(update_fields=["last_step"])
    return True
