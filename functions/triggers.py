"""Event triggers: validating the triggers a deploy declares, matching log events against them,
and the event dict a handler receives.

Trigger dicts come from the runtime's decorators (`baas_runtime.on_document_created(...)` etc.):
`{"type": "document.created" | "document.updated" | "document.deleted" | "document.written",
"collection", "filter", "handler"}`, `{"type": "object.created" | "object.deleted", "bucket",
"prefix", "handler"}`, `{"type": "schedule", "cron", "timezone", "every", "handler"}` and
`{"type": "http", "handler"}`.
"""

from __future__ import annotations

import hashlib
import logging
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from celery.schedules import ParseException, crontab_parser

from baas.errors import ValidationFailed
from baas.events import EventRecord
from baas.rules.errors import RulesError
from baas.rules.predicate import Predicate, to_predicate
from baas.rules.validate import parse_filter
from baas.timestamps import rfc3339
from functions import grants
from functions.models import Function

logger = logging.getLogger("baas.functions")

DOCUMENT_TYPES = {
    "document.created": ("created",),
    "document.updated": ("updated",),
    "document.deleted": ("deleted",),
    "document.written": ("created", "updated", "deleted"),
}
# An overwrite is a new upload too: `object.created` fires for both (like a storage "finalize").
OBJECT_TYPES = {"object.created": ("created", "updated"), "object.deleted": ("deleted",)}
KNOWN_TYPES = {*DOCUMENT_TYPES, *OBJECT_TYPES, "schedule", "http"}


# --- validation at deploy -------------------------------------------------------------------------
def check(triggers: list[dict[str, Any]], permissions: list[str]) -> None:
    """Refuse triggers that could never fire (bad filters, cron expressions or time zones) and
    triggers on a collection or bucket the deployment may not read: an event hands the handler the
    document or object, so it needs the same grant as reading it (`db:read:<collection>`,
    `storage:read:<bucket>`, or `*`)."""
    problems: list[dict[str, str]] = []
    for trigger in triggers:
        kind = trigger.get("type")
        where = f"{trigger.get('handler')}: "
        needed = required_grant(trigger)
        if needed and not grants.allows(permissions, *needed):
            problems.append(
                {
                    "code": "missing_grant",
                    "message": f"{where}a {kind} trigger on {needed[2]!r} needs the permission "
                    f"'{needed[0]}:read:{needed[2]}' (or '{needed[0]}:read:*').",
                }
            )
        if kind not in KNOWN_TYPES:
            problems.append({"code": "invalid", "message": f"{where}unknown trigger type {kind!r}."})
        elif kind in DOCUMENT_TYPES and trigger.get("filter"):
            try:
                parse_filter(trigger["filter"])
            except RulesError as error:
                problems.append({"code": "invalid_filter", "message": f"{where}{error}"})
        elif kind == "schedule":
            problem = schedule_problem(trigger)
            if problem:
                problems.append({"code": "invalid_schedule", "message": where + problem})
    if problems:
        raise ValidationFailed("A trigger is not valid.", details={"triggers": problems})


def required_grant(trigger: dict[str, Any]) -> tuple[str, str, str] | None:
    """(service, access, name) a deployment needs to receive this trigger's events, or None."""
    kind = trigger.get("type")
    if kind in DOCUMENT_TYPES:
        return "db", "read", str(trigger.get("collection"))
    if kind in OBJECT_TYPES:
        return "storage", "read", str(trigger.get("bucket"))
    return None


def grant_for_event(event: dict[str, Any]) -> tuple[str, str, str] | None:
    """The grant a handler needs to receive this event payload (`event_payload()`), or None."""
    kind = str(event.get("type") or "")
    if kind.startswith("document."):
        return "db", "read", str(event.get("collection"))
    if kind.startswith("object."):
        return "storage", "read", str(event.get("bucket"))
    return None


def schedule_problem(trigger: dict[str, Any]) -> str | None:
    every, cron = trigger.get("every"), trigger.get("cron")
    if (every is None) == (cron is None):
        return "a schedule needs either a cron expression or `every` seconds."
    if every is not None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            return "`every` must be a whole number of seconds, at least 1."
        return None
    fields = str(cron).split()
    if len(fields) != 5:
        return "cron must have five fields: minute hour day month weekday."
    ranges = ((60, 0), (24, 0), (31, 1), (12, 1), (7, 0))
    for text, (size, offset) in zip(fields, ranges, strict=True):
        try:
            crontab_parser(size, offset).parse(text)
        except (ParseException, ValueError) as error:
            return f"cron field {text!r}: {error}"
    try:
        zoneinfo.ZoneInfo(str(trigger.get("timezone") or "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {trigger.get('timezone')!r}."
    return None


# --- matching -------------------------------------------------------------------------------------
@lru_cache(maxsize=1024)
def _filter(text: str) -> Predicate:
    return to_predicate(parse_filter(text))


@dataclass(frozen=True)
class Match:
    """One handler of one active version that listens to a topic."""

    function_id: int
    version_id: int
    since_seq: int
    max_retries: int
    handler: str
    type: str
    kinds: tuple[str, ...]
    filter: str | None = None
    prefix: str | None = None

    def accepts(self, event: EventRecord) -> bool:
        if event.seq <= self.since_seq or event.kind not in self.kinds:
            return False
        if self.prefix and not event.key.startswith(self.prefix):
            return False
        return filter_accepts(self.filter, event) if self.filter else True


def filter_accepts(text: str, event: EventRecord) -> bool:
    """Does a trigger's (or webhook's) filter accept this document event? It sees the document
    after the write (before it, for a delete), with the writer as `auth`."""
    doc = event.after if event.after is not None else event.before
    if doc is None:
        return False
    try:
        return _filter(text)(doc, auth=_auth_of(event.actor), now=event.created_at)
    except Exception:  # a filter that cannot evaluate on this document does not match
        return False


def _auth_of(actor: dict[str, Any] | None) -> dict[str, Any] | None:
    if not actor or actor.get("kind") == "anonymous":
        return None
    return {"id": actor.get("id"), "role": actor.get("role"), "claims": {}}


def table() -> dict[str, list[Match]]:
    """Every event trigger of every active version, by topic (`db/<c>`, `storage/<b>`)."""
    by_topic: dict[str, list[Match]] = defaultdict(list)
    rows = Function.objects.filter(active_version__isnull=False).values_list(
        "id",
        "since_seq",
        "active_version_id",
        "active_version__triggers",
        "active_version__max_retries",
        "active_version__permissions",
    )
    for function_id, since_seq, version_id, triggers, max_retries, permissions in rows:
        for trigger in triggers or []:
            kind = trigger.get("type")
            needed = required_grant(trigger)
            if needed and not grants.allows(permissions or [], *needed):
                # Deployed before triggers needed the grant (or the row was edited): it gets no
                # events at all — not even a failed invocation, which would store the document.
                _warn_missing_grant(function_id, trigger["handler"], needed)
                continue
            common = {
                "function_id": function_id,
                "version_id": version_id,
                "since_seq": since_seq,
                "max_retries": max_retries,
                "handler": trigger["handler"],
                "type": kind,
            }
            if kind in DOCUMENT_TYPES:
                by_topic[f"db/{trigger['collection']}"].append(
                    Match(**common, kinds=DOCUMENT_TYPES[kind], filter=trigger.get("filter") or None)
                )
            elif kind in OBJECT_TYPES:
                by_topic[f"storage/{trigger['bucket']}"].append(
                    Match(**common, kinds=OBJECT_TYPES[kind], prefix=trigger.get("prefix") or None)
                )
    return by_topic


@lru_cache(maxsize=1024)
def _warn_missing_grant(function_id: int, handler: str, needed: tuple[str, str, str]) -> None:
    logger.warning(
        "trigger skipped: function %s handler %s lacks the permission %s (it receives no events)",
        function_id, handler, ":".join(needed),
    )  # fmt: skip


# --- what the handler receives --------------------------------------------------------------------
def event_payload(event: EventRecord) -> dict[str, Any]:
    """`{id, type, collection | bucket, doc | object, before, seq, depth, ...}` for a handler."""
    service, _, name = event.topic.partition("/")
    payload: dict[str, Any] = {"id": event.event_id, "seq": event.seq, "depth": event.depth}
    if service == "db":
        payload.update(type=f"document.{event.kind}", collection=name, doc=event.after, key=event.key)
    else:
        payload.update(type=f"object.{event.kind}", bucket=name, object=event.after, path=event.key)
    payload.update(
        before=event.before,
        time=rfc3339(event.created_at),
        actor=event.actor,
        causation={"invocation_id": event.invocation_id, "depth": event.depth},
    )
    return payload


def order_key(topic: str, key: str) -> str:
    """Invocations of one function for one document (or object) run in sequence order."""
    return hashlib.sha256(f"{topic}\0{key}".encode()).hexdigest()[:32]
