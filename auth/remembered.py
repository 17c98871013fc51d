"""Principals this process has found for a credential, as a guess that a write checks in its statement.

A create must know its caller's principal before its statement (the create rule and the event's
actor need it), so a hot write used to check the service key or session in a query of its own and
write in a second. A client sends the same credential with every request, and the row its check
finds rarely changes: the principal of the last check is remembered here, the write's statement
runs the credential's check again as a CTE named `credential` and writes only when that row is
still exactly the remembered one (`Remembered.condition`). A row that changed or vanished (a
revoked key or session, a disabled user, new claims) makes the statement write nothing, and the
caller checks the credential on its own as before, so nothing is ever written for a principal the
check would not give now. Bounded: emptied when full.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from baas.principals import Principal


@dataclass(frozen=True)
class Remembered:
    """The principal last found for a credential, and the condition (SQL over the columns
    c0, c1, … of the credential CTE, with its parameters) that holds when the check's row is
    still the one that principal was built from."""

    principal: Principal
    condition: str
    params: tuple[Any, ...]
    # What of the check's row the principal was built from (to tell whether a new row changes it).
    row: tuple[Any, ...]
    # The check's SELECT as the CTE the condition reads (`credential_cte`); run with the check's
    # parameters of the request at hand.
    cte: str


_remembered: dict[Hashable, Remembered] = {}
REMEMBERED_MAX = 10_000


def recall(key: Hashable) -> Remembered | None:
    return _remembered.get(key)


def remember(key: Hashable, remembered: Remembered) -> None:
    if len(_remembered) >= REMEMBERED_MAX and key not in _remembered:
        _remembered.clear()
    _remembered[key] = remembered


def forget(key: Hashable) -> None:
    _remembered.pop(key, None)


def credential_cte(sql: str, columns: int) -> str:
    """The check's SELECT as the CTE the conditions read: `credential(c0, c1, …) AS (…)`."""
    return f"credential({', '.join(f'c{i}' for i in range(columns))}) AS ({sql})"
