"""Routes of the auth service under `/v1/` (auth endpoints and admin)."""

from __future__ import annotations

from django.urls import path

from auth.api import users_views, views

urlpatterns = [
    path("auth/signup", users_views.SignupView.as_view(), name="auth-signup"),
    path("auth/token", users_views.TokenView.as_view(), name="auth-token"),
    path("auth/token/refresh", users_views.RefreshView.as_view(), name="auth-token-refresh"),
    path("auth/logout", users_views.LogoutView.as_view(), name="auth-logout"),
    path("auth/anonymous", users_views.AnonymousView.as_view(), name="auth-anonymous"),
    path("auth/user", users_views.CurrentUserView.as_view(), name="auth-user"),
    path("auth/verify/request", users_views.VerifyRequestView.as_view(), name="auth-verify-request"),
    path("auth/verify", users_views.VerifyView.as_view(), name="auth-verify"),
    path("auth/recover", users_views.RecoverView.as_view(), name="auth-recover"),
    path("auth/recover/confirm", users_views.RecoverConfirmView.as_view(), name="auth-recover-confirm"),
    path("admin/users", users_views.AdminUserListView.as_view(), name="admin-users"),
    path("admin/users/<str:user_id>", users_views.AdminUserDetailView.as_view(), name="admin-user"),
    path(
        "admin/users/<str:user_id>/logout",
        users_views.AdminUserLogoutView.as_view(),
        name="admin-user-logout",
    ),
    path("admin/keys", views.ServiceKeyListView.as_view(), name="admin-keys"),
    path("admin/keys/<uuid:key_id>", views.ServiceKeyDetailView.as_view(), name="admin-key"),
]
