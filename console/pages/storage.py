"""The console's Storage page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from console.access import staff_page
from console.navigation import context


@staff_page
def page(request: HttpRequest) -> HttpResponse:
    return render(request, "console/storage/index.html", context(request, "storage"))


urlpatterns = [path("", page, name="storage")]
