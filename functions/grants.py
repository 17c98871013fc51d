"""A deployment's permissions: `db:read:<collection>`, `db:write:<collection>`,
`storage:read:<bucket>`, `storage:write:<bucket>`, with `*` for any name. Default: none."""

from __future__ import annotations

import re
from typing import Any

from baas.errors import ValidationFailed

_GRANT = re.compile(r"^(db|storage):(read|write):(\*|[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$")


def clean(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ValidationFailed(
            details={"permissions": [{"code": "invalid", "message": "permissions must be a list of strings."}]}
        )
    for item in raw:
        if not _GRANT.match(item):
            raise ValidationFailed(
                details={
                    "permissions": [
                        {"code": "invalid", "message": f"{item!r} is not db|storage:read|write:<name or *>."}
                    ]
                }
            )
    return sorted(set(raw))


def allows(permissions: list[str], service: str, access: str, name: str) -> bool:
    return f"{service}:{access}:{name}" in permissions or f"{service}:{access}:*" in permissions
