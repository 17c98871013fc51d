"""Who may see a console page: signed-in operators (staff, not disabled), through a Django session.

`staff_page` guards every page and sets `request.principal` to the operator's staff principal, which
the page passes to the services: a console action is the operator's action, with staff rights (the
rules do not bind staff; the audit log records who did it).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from baas.principals import Principal, staff_principal

View = Callable[..., HttpResponse]

# Pages are the operator's own: never framed, cached or sent to another site in a Referer, and
# nothing loads from anywhere but this server (htmx and the stylesheet are served from here).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def operator_of(request: HttpRequest) -> Principal | None:
    """The staff principal of the request's signed-in operator, or None."""
    user: Any = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff or getattr(user, "disabled", False):
        return None
    return staff_principal(user_id=str(user.pk), email=user.email)


def with_security_headers(view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return wrapped


def staff_page(view: View) -> View:
    """Only operators get past; others go to the sign-in page (htmx requests are told to go there)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        principal = operator_of(request)
        if principal is None:
            target = reverse("console:sign-in") + "?" + urlencode({"next": request.get_full_path()})
            if request.headers.get("HX-Request"):
                response = HttpResponse(status=401)
                response["HX-Redirect"] = target
                return response
            return HttpResponseRedirect(target)
        request.principal = principal  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return with_security_headers(wrapped)


def principal(request: HttpRequest) -> Principal:
    """The operator behind a request that `staff_page` let through."""
    return request.principal  # type: ignore[attr-defined]
