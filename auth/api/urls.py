"""Routes of the auth service under `/v1/` (auth endpoints and admin)."""

from __future__ import annotations

from django.urls import path

from auth.api import views

urlpatterns = [
    path("auth/signup", views.SignupView.as_view(), name="auth-signup"),
    path("auth/token", views.TokenView.as_view(), name="auth-token"),
    path("auth/token/refresh", views.RefreshView.as_view(), name="auth-token-refresh"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/anonymous", views.AnonymousView.as_view(), name="auth-anonymous"),
    path("auth/user", views.CurrentUserView.as_view(), name="auth-user"),
    path("auth/verify/request", views.VerifyRequestView.as_view(), name="auth-verify-request"),
    path("auth/verify", views.VerifyView.as_view(), name="auth-verify"),
    path("auth/recover", views.RecoverView.as_view(), name="auth-recover"),
    path("auth/recover/confirm", views.RecoverConfirmView.as_view(), name="auth-recover-confirm"),
    path("admin/users", views.AdminUserListView.as_view(), name="admin-users"),
    path("admin/users/<str:user_id>", views.AdminUserDetailView.as_view(), name="admin-user"),
    path(
        "admin/users/<str:user_id>/logout",
        views.AdminUserLogoutView.as_view(),
        name="admin-user-logout",
    ),
    path("admin/keys", views.ServiceKeyListView.as_view(), name="admin-keys"),
    path("admin/keys/<uuid:key_id>", views.ServiceKeyDetailView.as_view(), name="admin-key"),
]
