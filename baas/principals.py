"""Who is calling: one `Principal` for every request, websocket and function invocation.

Authentication classes (in the auth app) turn credentials into a Principal and put it in DRF's
`request.auth`; everything else asks `principal_of(request)`. The rules language sees the
principal through `rules_context()` as `auth` (null when anonymous).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

PrincipalKind = Literal["anonymous", "user", "service", "staff", "function"]


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    id: str | None = None
    email: str | None = None
    # The role the rules language sees: "user", "anonymous_user" (a signed-in anonymous account),
    # or "service". Staff act through the console with the service role.
    role: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    # The service key's or session's own id, for audit logs.
    credential_id: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def bypasses_rules(self) -> bool:
        """The service role, staff and functions are not subject to collection and bucket rules.

        A function is limited instead by the grants of its deployment, which the functions service
        checks before it calls another service on the function's behalf.
        """
        return self.kind in ("service", "staff", "function")

    def rules_context(self) -> dict[str, Any] | None:
        """The value of `auth` in rules and filters."""
        if self.kind == "anonymous":
            return None
        return {"id": self.id, "email": self.email, "role": self.role, "claims": dict(self.claims)}


ANONYMOUS = Principal(kind="anonymous")


def service_principal(*, key_id: str, name: str) -> Principal:
    return Principal(kind="service", id=f"service:{name}", role="service", credential_id=key_id)


def staff_principal(*, user_id: str, email: str | None) -> Principal:
    return Principal(kind="staff", id=user_id, email=email, role="service")


def function_principal(*, function: str, version: int) -> Principal:
    return Principal(kind="function", id=f"function:{function}", role="service", credential_id=str(version))


def principal_of(request: Any) -> Principal:
    """The principal of a DRF request (or of a plain Django request that went through DRF auth)."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, Principal) else ANONYMOUS
