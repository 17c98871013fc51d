"""REST routes of the document database, included under `/v1/db/` (baas/urls.py)."""

from __future__ import annotations

from django.urls import path

from documents.api import views

urlpatterns = [
    path("collections", views.CollectionListView.as_view(), name="collections"),
    path("collections/<str:name>", views.CollectionDetailView.as_view(), name="collection"),
    path("batch", views.BatchView.as_view(), name="documents-batch"),
    path("<str:collection>", views.DocumentListView.as_view(), name="documents"),
    path("<str:collection>/count", views.DocumentCountView.as_view(), name="documents-count"),
    path("<str:collection>/<str:doc_id>", views.DocumentDetailView.as_view(), name="document"),
]
