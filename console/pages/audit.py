"""The console's Audit log page: every administrative change, newest first, filterable, paged."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from baas import audit
from baas.errors import ApiError
from baas.pagination import INT, decode_cursor, encode_cursor
from console.access import staff_page
from console.navigation import context

PAGE_SIZE = 50
FILTERS = ("actor", "action", "target", "since", "until")


def _shown(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, sort_keys=True, default=str)


@require_GET
@staff_page
def page(request: HttpRequest) -> HttpResponse:
    filters = {name: request.GET.get(name, "").strip() for name in FILTERS}
    try:
        position = decode_cursor(request.GET.get("cursor"), (INT,))
        rows = audit.entries(
            actor=filters["actor"] or None,
            action=filters["action"] or None,
            target=filters["target"] or None,
            since=audit.parse_time(filters["since"], name="since"),
            until=audit.parse_time(filters["until"], name="until"),
            before_id=int(position[0]) if position else None,
            limit=PAGE_SIZE,
        )
    except ApiError as error:
        extra = context(request, "audit", filters=filters, entries=[], filter_error=error.message)
        return render(request, "console/audit/index.html", extra, status=400)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    next_query = None
    if more and rows:
        next_query = urlencode({**{k: v for k, v in filters.items() if v}, "cursor": encode_cursor([rows[-1].id])})
    entries = [
        {"entry": row, "actor": audit.actor_of(row), "before": _shown(row.before), "after": _shown(row.after)}
        for row in rows
    ]
    extra = context(request, "audit", filters=filters, entries=entries, next_query=next_query)
    return render(request, "console/audit/index.html", extra)


urlpatterns = [path("", page, name="audit")]
