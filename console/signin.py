"""Operators sign in with the account `baas createadmin` made: email and password, through the
auth service's staff check (same rate limits and lockout as the API), into a Django session."""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from auth import services as auth
from baas.errors import ApiError
from console.access import operator_of, staff_page, with_security_headers


def _next_page(request: HttpRequest) -> str:
    """Where to go after signing in: a console path on this site, never another site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False)
    if allowed and target.startswith("/console/"):
        return target
    return reverse("console:overview")


@require_http_methods(["GET", "POST"])
@with_security_headers
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if operator_of(request) is not None:
            return HttpResponseRedirect(_next_page(request))
        return render(request, "console/sign_in.html", {"next": _next_page(request)})
    email = request.POST.get("email", "")
    password = request.POST.get("password", "")
    client = auth.Client(ip=request.META.get("REMOTE_ADDR") or None, user_agent=request.headers.get("User-Agent", "")[:256])
    try:
        user = auth.staff_sign_in(email=email, password=password, client=client)
    except ApiError as error:
        context = {"next": _next_page(request), "email": email, "error": error.message}
        return render(request, "console/sign_in.html", context, status=error.http_status)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")  # a new session id
    return HttpResponseRedirect(_next_page(request))


@require_POST
@staff_page
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponseRedirect(reverse("console:sign-in"))
