"""REST routes of the document database (`/v1/db/…`)."""

from __future__ import annotations

from django.urls import path

from documents.api import views

urlpatterns = [
    path("db/collections", views.CollectionListView.as_view(), name="collections"),
    path("db/collections/<str:name>", views.CollectionDetailView.as_view(), name="collection"),
    path("db/batch", views.BatchView.as_view(), name="documents-batch"),
    path("db/<str:collection>", views.DocumentListView.as_view(), name="documents"),
    path("db/<str:collection>/count", views.DocumentCountView.as_view(), name="documents-count"),
    path("db/<str:collection>/<str:doc_id>", views.DocumentDetailView.as_view(), name="document"),
]
