"""The webhooks service: create, change, rotate the secret, delete, test; retry a delivery.

Writes happen here (views stay thin). A webhook is validated whole before anything is written;
its signing secret is generated unless the caller brings one, shown once (on create and on
rotation), and stored encrypted.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from baas import audit, events
from baas import egress as egress_rules
from baas.errors import Conflict, NotFound, field_error, refuse_unknown_fields, require_object
from baas.principals import Principal
from baas.rules.errors import RulesError
from baas.rules.validate import parse_filter
from webhooks import delivery, secrets, signing
from webhooks.models import Webhook, WebhookDelivery

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
FIELDS = ("name", "url", "source", "events", "filter", "enabled", "secret", "max_retries")
CHANGEABLE = ("url", "events", "filter", "enabled", "max_retries")
EVENTS = {
    Webhook.COLLECTION: ("document.created", "document.updated", "document.deleted"),
    # An overwrite is a new upload too: `object.created` covers it (as for triggers).
    Webhook.BUCKET: ("object.created", "object.deleted"),
}


def create_webhook(*, principal: Principal, body: Any) -> tuple[Webhook, str]:
    """A new webhook and its secret (the only time the secret is shown)."""
    body = require_object(body)
    refuse_unknown_fields(body, FIELDS)
    name = body.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise field_error("name", "invalid", "A name is 1-63 characters: a-z first, then a-z, 0-9, - or _.")
    kind, source_name, prefix = _source(body.get("source"))
    secret = body.get("secret")
    if secret is None:
        secret = signing.new_secret()
    elif problem := signing.secret_problem(secret):
        raise field_error("secret", "invalid", problem)
    webhook = Webhook(
        name=name,
        source_kind=kind,
        source_name=source_name,
        prefix=prefix,
        secret_encrypted=secrets.encrypt(secret),
        created_by=principal.id or "",
    )
    _apply(webhook, body, creating=True)
    try:
        with transaction.atomic():
            webhook.since_seq = events.latest_seq()  # only events committed from now on
            webhook.save()
            audit.record(actor=principal, action="webhook.create", target=f"webhook:{name}", after=_audited(webhook))
    except IntegrityError:
        raise Conflict(f"A webhook named {name!r} exists already.") from None
    return webhook, secret


def update_webhook(*, principal: Principal, name: str, body: Any) -> Webhook:
    body = require_object(body)
    refuse_unknown_fields(body, CHANGEABLE)
    with transaction.atomic():
        webhook = _locked(name)
        before = _audited(webhook)
        was_enabled = webhook.enabled
        _apply(webhook, body, creating=False)
        if webhook.enabled and not was_enabled:
            # Turned on again: what was committed while it was off is not sent (however far
            # behind the dispatcher is), as at creation.
            webhook.disabled_reason = ""
            webhook.since_seq = events.latest_seq()
        webhook.save()
        audit.record(actor=principal, action="webhook.update", target=f"webhook:{name}", before=before,
                     after=_audited(webhook))  # fmt: skip
    return webhook


def delete_webhook(*, principal: Principal, name: str) -> None:
    with transaction.atomic():
        webhook = _locked(name)
        before = _audited(webhook)
        webhook.delete()  # its deliveries too: a queued one finds no row and is dropped
        audit.record(actor=principal, action="webhook.delete", target=f"webhook:{name}", before=before)


def rotate_secret(*, principal: Principal, name: str, body: Any) -> tuple[Webhook, str]:
    """A new secret; the old one keeps signing (beside the new one) for WEBHOOKS_SECRET_GRACE_SECONDS."""
    body = require_object(body if body else {})
    refuse_unknown_fields(body, ("secret",))
    secret = body.get("secret")
    if secret is None:
        secret = signing.new_secret()
    elif problem := signing.secret_problem(secret):
        raise field_error("secret", "invalid", problem)
    with transaction.atomic():
        webhook = _locked(name)
        webhook.previous_secret_encrypted = webhook.secret_encrypted
        webhook.previous_until = timezone.now() + timedelta(seconds=settings.WEBHOOKS_SECRET_GRACE_SECONDS)
        webhook.secret_encrypted = secrets.encrypt(secret)
        webhook.save()
        audit.record(actor=principal, action="webhook.rotate_secret", target=f"webhook:{name}")
    return webhook, secret


def send_test(*, principal: Principal, name: str) -> WebhookDelivery:
    """Queue one `webhook.test` delivery (one attempt), whatever the webhook listens to."""
    with transaction.atomic():
        webhook = _locked(name)
        return delivery.queue_test(webhook)


def retry_delivery(*, principal: Principal, delivery_id: Any) -> WebhookDelivery:
    return delivery.retry(delivery_id)


# --- validation -----------------------------------------------------------------------------------
def _source(source: Any) -> tuple[str, str, str]:
    if not isinstance(source, dict):
        raise field_error("source", "invalid", 'source is {"collection": NAME} or {"bucket": NAME, "prefix"?: TEXT}.')
    kinds = [kind for kind in (Webhook.COLLECTION, Webhook.BUCKET) if kind in source]
    if len(kinds) != 1:
        raise field_error("source", "invalid", "source names exactly one collection or one bucket.")
    kind = kinds[0]
    refuse_unknown_fields(source, (kind, "prefix") if kind == Webhook.BUCKET else (kind,), prefix="source")
    name = source[kind]
    if not isinstance(name, str) or not name or len(name) > 200:
        raise field_error(f"source.{kind}", "invalid", f"The {kind} name must be a non-empty string.")
    prefix = source.get("prefix", "")
    if not isinstance(prefix, str) or len(prefix) > 1024:
        raise field_error("source.prefix", "invalid", "prefix must be a string (a path prefix).")
    return kind, name, prefix


def _apply(webhook: Webhook, body: dict[str, Any], *, creating: bool) -> None:
    """Validate and set the changeable fields present in `body` (all of them, with defaults, on create)."""
    if creating or "url" in body:
        webhook.url = _checked_url(body.get("url"))
    if creating or "events" in body:
        webhook.events = _checked_events(body.get("events"), webhook.source_kind)
    if creating or "filter" in body:
        webhook.filter = _checked_filter(body.get("filter"), webhook.source_kind)
    if creating or "enabled" in body:
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise field_error("enabled", "invalid", "enabled must be true or false.")
        webhook.enabled = enabled
    if creating or "max_retries" in body:
        webhook.max_retries = _checked_retries(body.get("max_retries", settings.WEBHOOKS_DEFAULT_MAX_RETRIES))


def url_problem(url: Any) -> str | None:
    """Why deliveries could never be sent to `url`, or None. A name is resolved (and checked) only
    when a delivery is sent: what it points to may change."""
    if not isinstance(url, str) or not url or len(url) > 2000:
        return "url must be an absolute https:// URL of at most 2000 characters."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return "url is not a valid URL."
    schemes = ("https", "http") if settings.WEBHOOKS_ALLOW_HTTP else ("https",)
    if parts.scheme not in schemes:
        return "url must use https (plain http only where WEBHOOKS_ALLOW_HTTP is on)."
    if not parts.hostname or parts.username is not None or parts.password is not None or parts.fragment:
        return "url needs a host, and no user, password or #fragment."
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None
    reason = egress_rules.refusal(address, settings.WEBHOOKS_EGRESS_ALLOW)
    if reason:
        return f"Webhooks may not be sent there: {reason} (WEBHOOKS_EGRESS_ALLOW lists allowed networks)."
    return None


def _checked_url(url: Any) -> str:
    problem = url_problem(url)
    if problem:
        raise field_error("url", "invalid", problem)
    return str(url)


def _checked_events(chosen: Any, kind: str) -> list[str]:
    known = EVENTS[kind]
    if chosen is None:
        return list(known)
    if not isinstance(chosen, list) or not chosen or any(item not in known for item in chosen):
        raise field_error("events", "invalid", f"events is a non-empty list of: {', '.join(known)}.")
    return sorted(set(chosen), key=known.index)


def _checked_filter(text: Any, kind: str) -> str:
    if text in (None, ""):
        return ""
    if kind != Webhook.COLLECTION:
        raise field_error("filter", "invalid", "A filter applies to a collection's documents only (use a prefix).")
    if not isinstance(text, str):
        raise field_error("filter", "invalid", "filter must be a rules expression (a string).")
    try:
        parse_filter(text)
    except RulesError as error:
        raise field_error("filter", "invalid_filter", str(error)) from None
    return text


def _checked_retries(value: Any) -> int:
    limit = settings.WEBHOOKS_MAX_RETRIES_LIMIT
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise field_error("max_retries", "invalid", f"max_retries is a whole number from 0 to {limit}.")
    return value


def _locked(name: str) -> Webhook:
    webhook = Webhook.objects.select_for_update().filter(name=name).first()
    if webhook is None:
        raise NotFound(f"There is no webhook named {name!r}.")
    return webhook


def _audited(webhook: Webhook) -> dict[str, Any]:
    return {
        "url": webhook.url,
        "source": webhook.topic,
        "events": webhook.events,
        "filter": webhook.filter,
        "enabled": webhook.enabled,
        "max_retries": webhook.max_retries,
    }
