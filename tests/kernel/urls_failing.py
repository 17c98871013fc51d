"""Views that fail on purpose, to check that failures still answer in the error shape."""

from django.http import HttpResponse
from django.urls import include, path
from rest_framework.decorators import api_view, authentication_classes, permission_classes


def plain_view_that_crashes(request):
    raise RuntimeError("secret internal detail")


@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def api_view_that_crashes(request):
    raise RuntimeError("secret internal detail")


def plain_view_with_html_error(request):
    return HttpResponse("<h1>Bad</h1>", status=400, content_type="text/html")


urlpatterns = [
    path("v1/crash/plain", plain_view_that_crashes),
    path("v1/crash/api", api_view_that_crashes),
    path("v1/crash/html", plain_view_with_html_error),
    path("", include("baas.urls")),
]
