"""The console's Overview page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from console.access import staff_page
from console.navigation import context


@staff_page
def page(request: HttpRequest) -> HttpResponse:
    return render(request, "console/overview/index.html", context(request, "overview"))
