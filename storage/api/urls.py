"""REST routes of object storage (`/v1/storage/…`).

Object paths are matched as any characters, newlines included, possibly empty (`objectpath`), so
that every bad path reaches the view and gets a clear 400 instead of an unmatched-URL 404. The
routes are `path()` patterns with converters that never refuse a match (StringConverter's), so
the lean front (baas/front.py) can compile them and serve object downloads and small uploads
before Django's middlewares.
"""

from __future__ import annotations

from django.urls import path, register_converter
from django.urls.converters import StringConverter

from storage.api import views


class ObjectPathConverter(StringConverter):
    """Any characters at all, `/` and newlines included, empty too; the view judges the path."""

    regex = r"[\s\S]*"


register_converter(ObjectPathConverter, "objectpath")

urlpatterns = [
    path("storage/buckets", views.BucketListView.as_view(), name="storage-buckets"),
    path("storage/buckets/<str:name>", views.BucketDetailView.as_view(), name="storage-bucket"),
    path("storage/objects/<str:bucket>", views.ObjectListView.as_view(), name="storage-objects"),
    path("storage/objects/<str:bucket>/<objectpath:path>", views.ObjectView.as_view(), name="storage-object"),
    path("storage/sign/<str:bucket>/<objectpath:path>", views.SignView.as_view(), name="storage-sign"),
]
