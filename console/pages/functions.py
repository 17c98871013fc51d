"""The console's Functions page: the functions, their versions (deploy a bundle, roll back), an
invoke with a JSON payload, invocations by status with their logs and traceback, retrying a dead
or failed one, and live logs.

Everything goes through functions' services and selectors as the operator's staff principal (the
audit log of deployments, rollbacks and retries is kept inside the services). Deploys run the code
in the real sandbox, as over the API.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from baas import jsonvalues
from baas.errors import InvalidRequest, TooLarge, field_error
from console.access import principal, staff_page
from console.navigation import context
from console.pages.opsforms import REFUSALS, messages_of, status_of
from functions import selectors, services

INVOCATIONS_SHOWN = 50
LIVE_LOG_INVOCATIONS = 20
# Live logs poll every LIVE_LOG_SECONDS for at most LIVE_LOG_POLLS times (10 minutes), then stop
# until the operator resumes them: an open tab does not poll the server forever.
LIVE_LOG_SECONDS = 2
LIVE_LOG_POLLS = 300
INVOKE_CHOICES = ("service", "authenticated", "public")


@staff_page
@require_GET
def page(request: HttpRequest) -> HttpResponse:
    rows = selectors.list_functions(principal(request), after_name=None, limit=500)[:500]
    return render(request, "console/functions/index.html", context(request, "functions", functions=rows))


def _deploy_config(request: HttpRequest) -> tuple[dict[str, Any], bytes]:
    post = request.POST
    config: dict[str, Any] = {"name": post.get("name", "").strip()}
    if post.get("entry", "").strip():
        config["entry"] = post["entry"].strip()
    if post.get("invoke") in INVOKE_CHOICES:
        config["invoke"] = post["invoke"]
    raw = post.get("config", "").strip()
    if raw:
        try:
            extra = jsonvalues.loads(raw)
        except jsonvalues.UnacceptableValue as bad:
            raise bad.about("config", "invalid_request") from None
        if not isinstance(extra, dict):
            raise field_error("config", "invalid", 'More settings is a JSON object, e.g. {"timeout": 5}.')
        config = {**extra, **config}
    bundle = request.FILES.get("bundle")
    if bundle is None:
        raise field_error("bundle", "required", "Attach the bundle file (zip or tar).")
    limit = settings.FUNCTIONS_BUNDLE_MAX_BYTES
    if bundle.size is not None and bundle.size > limit:
        raise TooLarge(f"A bundle may be at most {limit} bytes.", details={"limit": limit})
    return config, bundle.read(limit + 1)


@staff_page
@require_POST
def deploy(request: HttpRequest) -> HttpResponse:
    try:
        config, archive = _deploy_config(request)
        version = services.deploy_function(principal=principal(request), config=config, archive=archive)
    except REFUSALS as error:
        lines = messages_of(error)
        failure = (error.details or {}).get("error") if isinstance(error.details, dict) else None
        rows = selectors.list_functions(principal(request), after_name=None, limit=500)[:500]
        data = context(request, "functions", functions=rows, errors=lines, failure=failure, form=request.POST)
        return render(request, "console/functions/index.html", data, status=status_of(error))
    name = version.function.name
    messages.success(request, f"Deployed {name} version {version.number}.")
    return HttpResponseRedirect(reverse("console:function", args=[name]))


def _invocations(request: HttpRequest, function: Any, status: str | None) -> list[Any]:
    return selectors.list_invocations(function, status=status, after=None, limit=INVOCATIONS_SHOWN)[:INVOCATIONS_SHOWN]


def _status_filter(request: HttpRequest) -> str | None:
    status = request.GET.get("status") or None
    if status is not None and status not in selectors.INVOCATION_STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(selectors.INVOCATION_STATUSES)}.")
    return status


@staff_page
@require_GET
def function_page(request: HttpRequest, name: str) -> HttpResponse:
    try:
        function = selectors.access_function(principal(request), name)
        status = _status_filter(request)
    except REFUSALS as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("console:functions"))
    versions = selectors.list_versions(function, before_number=None, limit=50)[:50]
    data = context(
        request,
        "functions",
        function=function,
        active=function.active_version,
        versions=versions,
        backlog=selectors.backlog(function),
        invocations=_invocations(request, function, status),
        status=status,
        statuses=selectors.INVOCATION_STATUSES,
        live=_live_context(function, polls=0),
    )
    return render(request, "console/functions/function.html", data)


@staff_page
@require_GET
def invocations(request: HttpRequest, name: str) -> HttpResponse:
    """The invocations table alone (the status filter swaps it in)."""
    try:
        function = selectors.access_function(principal(request), name)
        status = _status_filter(request)
    except REFUSALS as error:
        return render(request, "console/functions/errors.html", {"errors": messages_of(error)}, status=status_of(error))
    data = {"function": function, "invocations": _invocations(request, function, status), "status": status}
    return render(request, "console/functions/invocations.html", data)


@staff_page
@require_POST
def rollback(request: HttpRequest, name: str) -> HttpResponse:
    raw = request.POST.get("version", "")
    try:
        number = int(raw) if raw.isdigit() else raw
        services.rollback_function(principal=principal(request), name=name, number=number)
    except REFUSALS as error:
        messages.error(request, " ".join(messages_of(error)))
    else:
        messages.success(request, f"{name} now runs version {raw}.")
    return HttpResponseRedirect(reverse("console:function", args=[name]))


@staff_page
@require_POST
def invoke(request: HttpRequest, name: str) -> HttpResponse:
    """Invoke with the form's JSON payload and show the outcome (htmx swaps it in)."""
    raw = request.POST.get("payload", "").strip()
    try:
        try:
            payload = jsonvalues.loads(raw) if raw else None
        except jsonvalues.UnacceptableValue as bad:
            raise bad.about("payload", "invalid_request") from None
        invocation = services.invoke_and_wait(principal=principal(request), name=name, payload=payload)
    except REFUSALS as error:
        return render(request, "console/functions/errors.html", {"errors": messages_of(error)}, status=status_of(error))
    data = {
        "invocation": invocation,
        "result": json.dumps(invocation.result, indent=2, ensure_ascii=False),
        "error_text": _error_text(invocation.error),
    }
    return render(request, "console/functions/invoked.html", data)


def _error_text(error: dict[str, Any] | None) -> str:
    if not error:
        return ""
    head = f"{error.get('type') or 'Error'}: {error.get('message') or ''}"
    return head if not error.get("code") else f"{head} ({error['code']})"


@staff_page
@require_GET
def invocation_page(request: HttpRequest, invocation_id: Any) -> HttpResponse:
    try:
        invocation = selectors.access_invocation(principal(request), invocation_id)
    except REFUSALS as refused:
        messages.error(request, refused.message)
        return HttpResponseRedirect(reverse("console:functions"))
    failure = invocation.error or {}
    data = context(
        request,
        "functions",
        invocation=invocation,
        error_text=_error_text(invocation.error),
        traceback=failure.get("traceback") or "",
        result=json.dumps(invocation.result, indent=2, ensure_ascii=False),
        event=json.dumps(invocation.event, indent=2, ensure_ascii=False),
        may_retry=invocation.status in ("dead", "failed"),
    )
    return render(request, "console/functions/invocation.html", data)


@staff_page
@require_POST
def retry(request: HttpRequest, invocation_id: Any) -> HttpResponse:
    try:
        services.retry_invocation(principal=principal(request), invocation_id=invocation_id)
    except REFUSALS as error:
        messages.error(request, " ".join(messages_of(error)))
    else:
        messages.success(request, "The invocation is queued again.")
    return HttpResponseRedirect(reverse("console:invocation", args=[invocation_id]))


def _live_context(function: Any, *, polls: int) -> dict[str, Any]:
    recent = selectors.list_invocations(function, status=None, after=None, limit=LIVE_LOG_INVOCATIONS)
    entries = [row for row in reversed(recent[:LIVE_LOG_INVOCATIONS])]
    return {
        "entries": entries,
        "polls": polls + 1,
        "polling": polls < LIVE_LOG_POLLS,
        "seconds": LIVE_LOG_SECONDS,
    }


@staff_page
@require_GET
def live_logs(request: HttpRequest, name: str) -> HttpResponse:
    """The newest invocations' logs, polled by htmx while the page is open (bounded)."""
    raw = request.GET.get("polls", "0")
    polls = int(raw) if raw.isdigit() else 0
    try:
        function = selectors.access_function(principal(request), name)
    except REFUSALS as error:
        return render(request, "console/functions/errors.html", {"errors": messages_of(error)}, status=status_of(error))
    data = {"function": function, "live": _live_context(function, polls=polls)}
    return render(request, "console/functions/live.html", data)


urlpatterns = [
    path("", page, name="functions"),
    path("deploy", deploy, name="functions-deploy"),
    path("f/<str:name>/", function_page, name="function"),
    path("f/<str:name>/invocations", invocations, name="function-invocations"),
    path("f/<str:name>/rollback", rollback, name="function-rollback"),
    path("f/<str:name>/invoke", invoke, name="function-invoke"),
    path("f/<str:name>/live", live_logs, name="function-live"),
    path("invocations/<uuid:invocation_id>/", invocation_page, name="invocation"),
    path("invocations/<uuid:invocation_id>/retry", retry, name="invocation-retry"),
]
