"""REST routes of functions (`/v1/functions/…`, `/v1/invocations/…`)."""

from __future__ import annotations

from django.urls import path, re_path

from functions.api import views

urlpatterns = [
    path("functions", views.FunctionListView.as_view(), name="functions"),
    path("functions/<str:name>", views.FunctionDetailView.as_view(), name="function"),
    path("functions/<str:name>/versions", views.FunctionVersionsView.as_view(), name="function-versions"),
    path("functions/<str:name>/rollback", views.FunctionRollbackView.as_view(), name="function-rollback"),
    path("functions/<str:name>/invoke", views.FunctionInvokeView.as_view(), name="function-invoke"),
    path("functions/<str:name>/invocations", views.FunctionInvocationsView.as_view(), name="function-invocations"),
    # Webhooks: any method, any path below /http/ (empty too, with or without the slash).
    path("functions/<str:name>/http/<path:subpath>", views.FunctionHttpView.as_view(), name="function-http"),
    re_path(r"^functions/(?P<name>[^/]+)/http/?$", views.FunctionHttpRootView.as_view(), name="function-http-root"),
    path("functions/<str:name>/secrets", views.FunctionSecretsView.as_view(), name="function-secrets"),
    path("functions/<str:name>/logs", views.FunctionLogsView.as_view(), name="function-logs"),
    path("invocations/<uuid:invocation_id>", views.InvocationDetailView.as_view(), name="invocation"),
    path("invocations/<uuid:invocation_id>/retry", views.InvocationRetryView.as_view(), name="invocation-retry"),
]
