"""REST routes of outgoing webhooks (`/v1/webhooks/…`, `/v1/webhook-deliveries/…`)."""

from __future__ import annotations

from django.urls import path

from webhooks.api import views

urlpatterns = [
    path("webhooks", views.WebhookListView.as_view(), name="webhooks"),
    path("webhooks/<str:name>", views.WebhookDetailView.as_view(), name="webhook"),
    path("webhooks/<str:name>/rotate-secret", views.WebhookRotateSecretView.as_view(), name="webhook-rotate-secret"),
    path("webhooks/<str:name>/test", views.WebhookTestView.as_view(), name="webhook-test"),
    path("webhooks/<str:name>/deliveries", views.WebhookDeliveriesView.as_view(), name="webhook-deliveries"),
    path("webhook-deliveries/<uuid:delivery_id>", views.WebhookDeliveryDetailView.as_view(), name="webhook-delivery"),
    path(
        "webhook-deliveries/<uuid:delivery_id>/retry",
        views.WebhookDeliveryRetryView.as_view(),
        name="webhook-delivery-retry",
    ),
]
