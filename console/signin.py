"""Operators sign in with the account `baas createadmin` made: email and password, through the
auth service's staff check (same rate limits and lockout as the API), into a Django session; with
a second factor enrolled (console/second_factor.py), a one-time code from their app comes next."""

from __future__ import annotations

import time

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from auth import selectors as auth_selectors
from auth import services as auth
from baas.errors import ApiError, NotAuthenticated
from console import second_factor
from console.access import operator_of, staff_page, with_security_headers

# Between the password and the code: who passed the password, and when (the code must follow soon).
PENDING = "console_second_factor"
PENDING_SECONDS = 300
_BAD_CODE = "The code is wrong or was used already. Enter the current code from your authenticator app."


def _next_page(request: HttpRequest) -> str:
    """Where to go after signing in: a console path on this site, never another site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False)
    if allowed and target.startswith("/console/"):
        return target
    return reverse("console:overview")


def _client(request: HttpRequest) -> auth.Client:
    return auth.Client(
        ip=request.META.get("REMOTE_ADDR") or None, user_agent=request.headers.get("User-Agent", "")[:256]
    )


@require_http_methods(["GET", "POST"])
@with_security_headers
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if operator_of(request) is not None:
            return HttpResponseRedirect(_next_page(request))
        return render(request, "console/sign_in.html", {"next": _next_page(request)})
    email = request.POST.get("email", "")
    password = request.POST.get("password", "")
    try:
        user = auth.staff_sign_in(email=email, password=password, client=_client(request))
    except ApiError as error:
        context = {"next": _next_page(request), "email": email, "error": error.message}
        return render(request, "console/sign_in.html", context, status=error.http_status)
    if second_factor.is_enabled(str(user.pk)):
        request.session.cycle_key()
        request.session[PENDING] = {"user": str(user.pk), "email": user.email, "at": time.time()}
        return render(request, "console/sign_in_code.html", {"next": _next_page(request)})
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")  # a new session id
    return HttpResponseRedirect(_next_page(request))


@require_POST
@with_security_headers
def sign_in_code(request: HttpRequest) -> HttpResponse:
    """The second step: the code from the operator's authenticator app. Wrong codes count as failed
    sign-ins for the account (AUTH_LOCKOUT_*), exactly like wrong passwords."""
    pending = request.session.get(PENDING)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        request.session.pop(PENDING, None)
        context = {"next": _next_page(request), "error": "Sign in again: the code was not entered in time."}
        return render(request, "console/sign_in.html", context, status=401)
    email, client = pending["email"] or "", _client(request)
    try:
        auth.check_not_locked(email=email, client=client)
        if not second_factor.verify(user_id=pending["user"], code=request.POST.get("code", "")):
            auth.record_login_failure(email=email, client=client)
            raise NotAuthenticated(_BAD_CODE)
    except ApiError as error:
        context = {"next": _next_page(request), "error": error.message}
        return render(request, "console/sign_in_code.html", context, status=error.http_status)
    auth.clear_login_failures(email=email, client=client)
    user = auth_selectors.user_by_id(pending["user"])
    del request.session[PENDING]
    if user.disabled or not user.is_staff:
        return render(request, "console/sign_in.html", {"error": "This account may not sign in."}, status=403)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponseRedirect(_next_page(request))


@require_POST
@staff_page
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponseRedirect(reverse("console:sign-in"))
