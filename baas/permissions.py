"""DRF permission classes built on the request's Principal."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from baas.principals import principal_of


class ServiceOrStaff(BasePermission):
    """Only the service role and staff. Anonymous callers get 401, others 403."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return principal_of(request).kind in ("service", "staff")


class Authenticated(BasePermission):
    """Any principal but the anonymous one."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return not principal_of(request).is_anonymous
