"""The console's Users page: search, view, create, disable/enable, set claims, revoke sessions,
delete — each through the auth service, as the signed-in operator (so the audit log names them)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from auth import selectors, services
from baas.errors import ApiError
from baas.pagination import TIMESTAMP, UUID, decode_cursor, encode_cursor
from console.access import principal, staff_page
from console.navigation import context

PAGE_SIZE = 25


def _position(request: HttpRequest) -> tuple[str, str] | None:
    try:
        position = decode_cursor(request.GET.get("cursor"), (TIMESTAMP, UUID))
    except ApiError:
        return None
    return (str(position[0]), str(position[1])) if position else None


def _list(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    search = request.GET.get("search", "").strip()
    rows = selectors.list_users(
        principal=principal(request), search=search or None, after=_position(request), limit=PAGE_SIZE
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    next_cursor = encode_cursor([rows[-1].created_at.isoformat(), str(rows[-1].id)]) if more and rows else None
    return context(request, "users", users=rows, search=search, next_cursor=next_cursor, **extra)


@require_GET
@staff_page
def page(request: HttpRequest) -> HttpResponse:
    return render(request, "console/users/index.html", _list(request))


@require_POST
@staff_page
def create(request: HttpRequest) -> HttpResponse:
    email = request.POST.get("email", "").strip()
    changes: dict[str, Any] = {"email": email}
    if request.POST.get("password"):
        changes["password"] = request.POST["password"]
    try:
        user = services.admin_create_user(changes=changes, actor=principal(request))
    except ApiError as error:
        problem = {"message": error.message, "email": email}
        return render(
            request, "console/users/index.html", _list(request, create_error=problem), status=error.http_status
        )
    messages.success(request, f"User {user.email} created.")
    return HttpResponseRedirect(reverse("console:user", args=[user.pk]))


def _detail(request: HttpRequest, user_id: str, status: int = 200, **extra: Any) -> HttpResponse:
    user = selectors.access_user(principal=principal(request), user_id=user_id)
    claims_text = extra.pop("claims_text", None) or json.dumps(user.claims, indent=2, sort_keys=True)
    return render(
        request,
        "console/users/detail.html",
        context(
            request, "users", person=user, claims_text=claims_text, data_text=json.dumps(user.data, indent=2), **extra
        ),
        status=status,
    )


@require_GET
@staff_page
def detail(request: HttpRequest, user_id: str) -> HttpResponse:
    return _detail(request, user_id)


@require_POST
@staff_page
def set_disabled(request: HttpRequest, user_id: str) -> HttpResponse:
    disabled = request.POST.get("disabled") == "true"
    user = services.admin_update_user(user_id=user_id, changes={"disabled": disabled}, actor=principal(request))
    messages.success(
        request, f"{user.email or user.pk} is {'disabled: every session ended' if disabled else 'enabled'}."
    )
    return HttpResponseRedirect(reverse("console:user", args=[user_id]))


def parse_claims(text: str) -> dict[str, Any]:
    """The claims form's JSON: an object, or a ValueError saying what is wrong."""
    try:
        claims = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}).") from None
    if not isinstance(claims, dict):
        raise ValueError('Claims must be a JSON object, e.g. {"admin": true}.')
    return claims


@require_POST
@staff_page
def set_claims(request: HttpRequest, user_id: str) -> HttpResponse:
    text = request.POST.get("claims", "")
    try:
        claims = parse_claims(text)
        services.admin_update_user(user_id=user_id, changes={"claims": claims}, actor=principal(request))
    except ValueError as error:
        return _detail(request, user_id, status=400, claims_error=str(error), claims_text=text)
    except ApiError as error:
        return _detail(request, user_id, status=error.http_status, claims_error=error.message, claims_text=text)
    messages.success(request, "Claims saved. They reach the user's next access token.")
    return HttpResponseRedirect(reverse("console:user", args=[user_id]))


@require_POST
@staff_page
def revoke_sessions(request: HttpRequest, user_id: str) -> HttpResponse:
    ended = services.admin_revoke_sessions(user_id=user_id, actor=principal(request))
    messages.success(request, f"{ended} session{'s' if ended != 1 else ''} ended.")
    return HttpResponseRedirect(reverse("console:user", args=[user_id]))


@require_POST
@staff_page
def delete(request: HttpRequest, user_id: str) -> HttpResponse:
    user = selectors.access_user(principal=principal(request), user_id=user_id)
    services.admin_delete_user(user_id=user_id, actor=principal(request))
    messages.success(request, f"User {user.email or user_id} deleted.")
    return HttpResponseRedirect(reverse("console:users"))


urlpatterns = [
    path("", page, name="users"),
    path("new", create, name="user-create"),
    path("<str:user_id>", detail, name="user"),
    path("<str:user_id>/disabled", set_disabled, name="user-disabled"),
    path("<str:user_id>/claims", set_claims, name="user-claims"),
    path("<str:user_id>/sessions/revoke", revoke_sessions, name="user-sessions-revoke"),
    path("<str:user_id>/delete", delete, name="user-delete"),
]
