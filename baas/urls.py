"""The URL map: one prefix per service, plus health, metrics and the API schema/docs."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from baas import audit_views, views

urlpatterns = [
    # First: the busiest routes. Django tries patterns in order, and only /v1/db/… paths enter here.
    path("v1/db/", include("documents.api.urls")),
    path("v1/", views.api_index, name="api-index"),
    path("v1/health", views.health, name="health"),
    path("v1/ready", views.ready, name="ready"),
    path("metrics", views.prometheus_metrics, name="metrics"),
    path("v1/schema", SpectacularJSONAPIView.as_view(), name="schema"),
    path("v1/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("v1/admin/audit", audit_views.AuditListView.as_view(), name="admin-audit"),
    path("v1/", include("auth.api.urls")),
    path("v1/", include("storage.api.urls")),
    path("v1/", include("functions.api.urls")),
    path("v1/", include("webhooks.api.urls")),
    path("v1/", include("realtime.api.urls")),
    path("console/", include("console.urls")),
]

handler404 = "baas.views.not_found"
handler500 = "baas.views.server_error"
