"""The console's Keys page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from console.access import staff_page
from console.navigation import context


@staff_page
def page(request: HttpRequest) -> HttpResponse:
    return render(request, "console/keys/index.html", context(request, "keys"))


urlpatterns = [path("", page, name="keys")]
