"""The operator's own two-factor page: enrol a TOTP authenticator (secret and otpauth:// URI shown,
confirmed with a code) or remove it (with a code)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from console import second_factor
from console.access import principal, staff_page
from console.navigation import context

ENROLLING = "console_totp_enrolling"  # the secret being enrolled, until a code confirms it


@require_http_methods(["GET", "POST"])
@staff_page
def page(request: HttpRequest) -> HttpResponse:
    operator = principal(request)
    user_id, email = str(operator.id), operator.email or ""
    step = request.POST.get("step", "")
    if step == "begin":
        request.session[ENROLLING] = second_factor.new_secret()
    elif step == "confirm":
        secret = request.session.get(ENROLLING, "")
        if secret and second_factor.enable(
            user_id=user_id, secret=secret, code=request.POST.get("code", ""), actor=operator
        ):
            del request.session[ENROLLING]
            messages.success(request, "Two-factor sign-in is on: from now on, signing in asks for a code.")
            return HttpResponseRedirect(reverse("console:two-factor"))
        return _render(request, user_id, email, status=400, error="That code does not match. Try the current one.")
    elif step == "disable":
        if second_factor.disable(user_id=user_id, code=request.POST.get("code", ""), actor=operator):
            messages.success(request, "Two-factor sign-in is off.")
            return HttpResponseRedirect(reverse("console:two-factor"))
        return _render(request, user_id, email, status=400, error="That code does not match. Try the current one.")
    return _render(request, user_id, email)


def _render(request: HttpRequest, user_id: str, email: str, status: int = 200, error: str = "") -> HttpResponse:
    enrolling = request.session.get(ENROLLING) if request.method == "POST" else None
    if request.method == "GET":
        request.session.pop(ENROLLING, None)
    extra = {
        "enabled": second_factor.is_enabled(user_id),
        "secret": enrolling,
        "uri": second_factor.provisioning_uri(enrolling, email) if enrolling else None,
        "error": error,
    }
    return render(request, "console/two_factor.html", context(request, "two-factor", **extra), status=status)
