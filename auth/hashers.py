"""Password hashing: argon2id with the parameters OWASP recommends for interactive logins.

Django's defaults (100 MiB, parallelism 8) took ~150 ms of two cores per hash here: 16 concurrent
logins queued for seconds and made login an easy way to exhaust the server. m=19 MiB, t=2, p=1
is OWASP's first recommended argon2id configuration. Stored hashes carry their parameters, so
changing them re-hashes each password at its owner's next login.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class BaasArgon2PasswordHasher(Argon2PasswordHasher):
    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return settings.AUTH_ARGON2_TIME_COST

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return settings.AUTH_ARGON2_MEMORY_KIB

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return settings.AUTH_ARGON2_PARALLELISM
