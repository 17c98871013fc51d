"""REST routes of realtime, included under `/v1/`."""

from __future__ import annotations

from django.urls import path

from realtime.api import views

urlpatterns = [
    path("realtime/channels/rules", views.ChannelRulesView.as_view(), name="realtime-channel-rules"),
]
