"""The console's Functions page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from console.access import staff_page
from console.navigation import context


@staff_page
def page(request: HttpRequest) -> HttpResponse:
    return render(request, "console/functions/index.html", context(request, "functions"))


urlpatterns = [path("", page, name="functions")]
