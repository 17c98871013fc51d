"""How the OpenAPI document describes our authentication classes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

_BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "A user's access token (JWT) or a service key (baas_sk_…).",
}


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "auth.authentication.ServiceKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return _BEARER


class _SameBearerScheme(OpenApiAuthenticationExtension):
    """Access JWTs travel in the same `Authorization: Bearer` header as service keys: one
    `bearerAuth` scheme (declared by BearerScheme) describes all of them."""

    name: list[str] = []

    def get_security_requirement(self, auto_schema: Any) -> None:
        return None

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return []


class UnknownBearerScheme(_SameBearerScheme):
    target_class = "auth.authentication.UnknownBearerAuthentication"


class JWTScheme(_SameBearerScheme):
    target_class = "auth.authentication.JWTAuthentication"


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "auth.authentication.StaffSessionAuthentication"
    name = "staffSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "Console operators."}
