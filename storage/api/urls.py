"""REST routes of object storage (`/v1/storage/…`).

Object paths are matched with `[\\s\\S]*` (any character, newlines included, possibly empty) so
that every bad path reaches the view and gets a clear 400 instead of an unmatched-URL 404.
"""

from __future__ import annotations

from django.urls import re_path

from storage.api import views

urlpatterns = [
    re_path(r"^storage/buckets$", views.BucketListView.as_view(), name="storage-buckets"),
    re_path(r"^storage/buckets/(?P<name>[^/]+)$", views.BucketDetailView.as_view(), name="storage-bucket"),
    re_path(r"^storage/objects/(?P<bucket>[^/]+)$", views.ObjectListView.as_view(), name="storage-objects"),
    re_path(
        r"^storage/objects/(?P<bucket>[^/]+)/(?P<path>[\s\S]*)$", views.ObjectView.as_view(), name="storage-object"
    ),
    re_path(r"^storage/sign/(?P<bucket>[^/]+)/(?P<path>[\s\S]*)$", views.SignView.as_view(), name="storage-sign"),
]
