"""The console's Keys page: service keys listed, created (the secret shown once) and revoked,
through the auth service as the signed-in operator."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from auth import selectors, services
from baas.errors import ApiError
from console.access import principal, staff_page
from console.navigation import context

SHOWN = 1000  # keys are few; one page shows them all


def _page(request: HttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    keys = selectors.list_service_keys(principal=principal(request), limit=SHOWN)
    return render(
        request, "console/keys/index.html", context(request, "keys", keys=keys[:SHOWN], **extra), status=status
    )


@require_GET
@staff_page
def page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@staff_page
def create(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "").strip()
    try:
        key, secret = services.create_service_key(name=name, actor=principal(request))
    except ApiError as error:
        return _page(request, status=error.http_status, create_error=error.message, name=name)
    # Answered directly, never redirected: the secret must not sit in a URL, a session or a cache.
    return _page(request, status=201, created=key, secret=secret)


@require_POST
@staff_page
def revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    key = services.revoke_service_key(key_id=key_id, actor=principal(request))
    messages.success(request, f"Key {key.name} revoked: requests with it are refused from now on.")
    return HttpResponseRedirect(reverse("console:keys"))


urlpatterns = [
    path("", page, name="keys"),
    path("new", create, name="key-create"),
    path("<uuid:key_id>/revoke", revoke, name="key-revoke"),
]
