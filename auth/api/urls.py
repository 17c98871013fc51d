"""Routes of the auth service under `/v1/` (auth endpoints and admin)."""

from __future__ import annotations

from django.urls import path

from auth.api import views

urlpatterns = [
    path("admin/keys", views.ServiceKeyListView.as_view(), name="admin-keys"),
    path("admin/keys/<uuid:key_id>", views.ServiceKeyDetailView.as_view(), name="admin-key"),
]
