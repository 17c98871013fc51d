"""The console's own data: operators' second factors (TOTP)."""

from __future__ import annotations

from django.db import models


class SecondFactor(models.Model):
    """An operator's TOTP secret (RFC 6238), confirmed with a code when it was enrolled.

    `last_step` is the 30-second time step of the last code accepted: a code is good once, so one
    seen over a shoulder or in a log cannot sign in again.
    """

    user_id = models.CharField(max_length=64, unique=True)
    secret = models.CharField(max_length=64)
    enabled_at = models.DateTimeField(auto_now_add=True)
    last_step = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"second factor of {self.user_id}"
