"""The console's Overview page: the platform's figures at a glance, read from the services."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from auth import selectors as auth_selectors
from baas import metrics
from console.access import principal, staff_page
from console.navigation import context
from documents import selectors as documents_selectors
from functions import selectors as functions_selectors
from functions.sandbox import BUBBLEWRAP, UNSAFE_LOCAL, problem, state
from realtime import services as realtime_services
from storage import selectors as storage_selectors

SANDBOX_WORDS = {
    BUBBLEWRAP: "bubblewrap: each function runs isolated (no network by default, read-only system, own PID namespace).",
    UNSAFE_LOCAL: "NONE: functions run unsandboxed (unsafe-local), as this server's user.",
}


def version() -> str:
    try:
        return metadata.version("baas")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def error_rate() -> dict[str, Any]:
    """Requests this server answered since it started, and the share of them that failed."""
    totals = metrics.request_totals()
    total = totals["total"]

    def share(n: int) -> str:
        return f"{100 * n / total:.1f} %" if total else "none yet"

    return {**totals, "server_share": share(totals["server_errors"]), "client_share": share(totals["client_errors"])}


def figures() -> dict[str, Any]:
    sandbox = state()
    invocations = functions_selectors.invocation_totals()
    return {
        "users": auth_selectors.user_counts(),
        "documents": documents_selectors.document_totals(),
        "storage": storage_selectors.storage_totals(),
        "invocations": invocations["by_status"],
        "dead": invocations["by_status"].get("dead", 0),
        "trigger_backlog": invocations["trigger_backlog"],
        "requests": error_rate(),
        "sandbox": sandbox,
        "sandbox_words": SANDBOX_WORDS.get(sandbox, f"unavailable: no function can run ({problem()})."),
        "version": version(),
    }


def realtime_connections(request: HttpRequest) -> dict[str, Any]:
    """Open websockets: this process's on the embedded default (the only process serving them),
    or the sum of every serving process's last summary (published every few seconds) with Redis."""
    overview = realtime_services.realtime_overview(actor=principal(request))
    if overview.processes is None:
        return {"count": len(overview.connections), "scope": "this server"}
    counted = {summary.process: summary.connections for summary in overview.processes}
    counted[overview.process] = len(overview.connections)  # this process's, fresher than its summary
    return {"count": sum(counted.values()), "scope": f"{len(counted)} serving process(es), refreshed every few seconds"}


@staff_page
def page(request: HttpRequest) -> HttpResponse:
    extra = {**figures(), "realtime": realtime_connections(request)}
    return render(request, "console/overview/index.html", context(request, "overview", **extra))
