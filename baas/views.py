"""Health, readiness and metrics endpoints."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from baas import errors, metrics
from baas.openapi import examples

logger = logging.getLogger("baas.health")

_STATUS = inline_serializer("Status", {"status": serializers.CharField()})
_HEALTH = inline_serializer(
    "Health",
    {
        "status": serializers.CharField(),
        "sandbox": serializers.ChoiceField(["bubblewrap", "unsafe-local", "unavailable"]),
    },
)


# GET /v1/: where each part of the API starts (what the `baas dev` banner links to).
ENTRY_POINTS = {
    "auth": "/v1/auth/token",
    "users": "/v1/admin/users",
    "collections": "/v1/db/collections",
    "buckets": "/v1/storage/buckets",
    "functions": "/v1/functions",
    "realtime": "/v1/realtime",
    "schema": "/v1/schema",
    "docs": "/v1/docs",
    "health": "/v1/health",
    "ready": "/v1/ready",
    "metrics": "/metrics",
    "console": "/console/",
}
_INDEX = inline_serializer(
    "ApiIndex",
    {"name": serializers.CharField(), "entry_points": serializers.DictField(child=serializers.CharField())},
)
examples("api_index", r200={"name": "baas", "entry_points": ENTRY_POINTS})
examples("health_get", r200={"status": "ok", "sandbox": "bubblewrap"})
examples("ready_get", r200={"status": "ok", "checks": {"database": "ok", "redis": "ok"}})


@extend_schema(responses=_INDEX, operation_id="api_index", summary="The API's entry points", tags=["health"])
@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def api_index(request: Request) -> Response:
    return Response({"name": "baas", "entry_points": ENTRY_POINTS})


@extend_schema(
    responses=_HEALTH,
    operation_id="health_get",
    summary="The process runs; which sandbox runs functions",
    tags=["health"],
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def health(request: Request) -> Response:
    # Which sandbox runs functions here: "bubblewrap", "unsafe-local" or "unavailable" (functions/sandbox).
    from functions.sandbox import state as sandbox_state

    return Response({"status": "ok", "sandbox": sandbox_state()})


def _check_database() -> str | None:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        # Drop the broken connection so that the next check dials again instead of reusing it.
        connection.close_if_unusable_or_obsolete()
        try:
            connection.close()
        except Exception:
            logger.debug("closing a broken database connection failed", exc_info=True)
        return type(exc).__name__
    return None


def _check_redis() -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return type(exc).__name__
    return None


@extend_schema(
    responses={200: _STATUS},
    operation_id="ready_get",
    summary="The database (and Redis, when configured) answer",
    tags=["health"],
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def ready(request: Request) -> Response:
    checks = {"database": _check_database()}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis()
    failed = {name: problem for name, problem in checks.items() if problem}
    if failed:
        logger.warning("not ready", extra={"failed": failed})
        raise errors.Unavailable(
            "Not ready: " + ", ".join(sorted(failed)) + " did not answer.",
            details={"checks": {name: problem or "ok" for name, problem in checks.items()}},
        )
    return Response({"status": "ok", "checks": dict.fromkeys(checks, "ok")})


def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return errors.error_response(errors.MethodNotAllowed())
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return errors.error_response(errors.NotFound(f"There is nothing at {request.path}."))


def server_error(request: HttpRequest) -> JsonResponse:
    return errors.error_response(errors.InternalError())
