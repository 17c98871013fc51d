"""The audit log: every administrative change, who made it, and the state before and after.

The services call `record` inside the function that makes the change (collection rules, schema and
indexes, users and their claims and sessions, service keys, buckets, function deployments,
rollbacks, deletes and retries), so a change is recorded whether it came through the admin API,
the console or the command line. `entries` reads the log newest first, filtered, a page at a time.

Entries are append-only (baas.models.AuditEntry refuses updates and deletes; on PostgreSQL a
trigger refuses them too). Secrets never enter an entry: callers pass what an operator may see
(a key's name and prefix, never its secret; "password": "changed", never a hash).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from baas.errors import InvalidRequest
from baas.logs import request_id_var
from baas.models import AuditEntry
from baas.principals import Principal

# The actor of a change made without a principal: a management command run on the machine
# (`baas keys create`, `baas createadmin`) or the platform itself.
SYSTEM = "system"


def record(
    *,
    actor: Principal | None,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Append one entry. Call it inside the change's transaction where there is one, so that a
    change rolled back leaves no entry behind."""
    request_id = request_id_var.get()
    return AuditEntry.objects.create(
        actor_kind=actor.kind if actor is not None else SYSTEM,
        actor_id=(actor.id or "") if actor is not None else "",
        actor_email=(actor.email or "") if actor is not None else "",
        action=action,
        target=target,
        before=before,
        after=after,
        request_id="" if request_id == "-" else request_id[:100],
    )


def actor_of(entry: AuditEntry) -> dict[str, Any]:
    """The entry's principal as the API shows it: {kind, id, email}."""
    return {"kind": entry.actor_kind, "id": entry.actor_id or None, "email": entry.actor_email or None}


def parse_time(raw: str | None, *, name: str) -> datetime | None:
    """A `since`/`until` filter: an ISO 8601 timestamp with a time zone (400 otherwise)."""
    if raw is None or raw == "":
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidRequest(
            f"{name} must be a timestamp with a time zone, e.g. 2026-01-31T12:00:00Z.", details={name: raw}
        )
    return parsed


def entries(
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Entries newest first: `limit + 1` of them (the extra one says whether more exist), older
    than entry `before_id` when given.

    `actor` matches the principal's id or email exactly; `action` matches exactly or as a prefix
    ending at a dot ("collection" matches "collection.rules.update"); `target` matches exactly;
    `since` is inclusive, `until` exclusive.
    """
    rows: QuerySet[AuditEntry] = AuditEntry.objects.order_by("-id")
    if actor:
        rows = rows.filter(Q(actor_id=actor) | Q(actor_email__iexact=actor))
    if action:
        prefix = action.rstrip(".")
        rows = rows.filter(Q(action=prefix) | Q(action__startswith=prefix + "."))
    if target:
        rows = rows.filter(target=target)
    if since is not None:
        rows = rows.filter(at__gte=since)
    if until is not None:
        rows = rows.filter(at__lt=until)
    if before_id is not None:
        rows = rows.filter(id__lt=before_id)
    return list(rows[: limit + 1])
