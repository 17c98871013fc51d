"""The console's Realtime page: connections, subscriptions per collection (and bucket), channels
with their presence, and the channel rules (view and change).

Connections live in the memory of the process serving their websocket; the page runs in a REST
thread of one process, so it lists that process's connections and adds every serving process's
counts when there are several (realtime/census.py, through Redis). The page says which it shows.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from console.access import principal, staff_page
from console.navigation import context
from console.pages.opsforms import REFUSALS, messages_of, status_of
from realtime import services
from realtime.channel_rules import OPERATIONS

CONNECTIONS_SHOWN = 200


def _context(request: HttpRequest, **extra: object) -> dict[str, object]:
    overview = services.realtime_overview(actor=principal(request))
    collections = [(topic.partition("/")[2], n) for topic, n in overview.topics.items() if topic.startswith("db/")]
    buckets = [(topic.partition("/")[2], n) for topic, n in overview.topics.items() if topic.startswith("storage/")]
    total = sum(summary.connections for summary in overview.processes) if overview.processes else None
    return context(
        request,
        "realtime",
        overview=overview,
        connections=overview.connections[:CONNECTIONS_SHOWN],
        more_connections=len(overview.connections) > CONNECTIONS_SHOWN,
        collections=collections,
        buckets=buckets,
        total_connections=total,
        rules=[(op, overview.rules.texts.get(op) or "") for op in OPERATIONS],
        **extra,
    )


@staff_page
@require_GET
def page(request: HttpRequest) -> HttpResponse:
    return render(request, "console/realtime/index.html", _context(request))


@staff_page
@require_POST
def save_rules(request: HttpRequest) -> HttpResponse:
    body = {op: (request.POST.get(f"rule_{op}", "").strip() or None) for op in OPERATIONS}
    try:
        services.replace_channel_rules(body=body, actor=principal(request))
    except REFUSALS as error:
        data = _context(request, errors=messages_of(error))
        return render(request, "console/realtime/index.html", data, status=status_of(error))
    messages.success(request, "Channel rules saved.")
    return HttpResponseRedirect(reverse("console:realtime"))


urlpatterns = [
    path("", page, name="realtime"),
    path("channel-rules", save_rules, name="realtime-rules"),
]
