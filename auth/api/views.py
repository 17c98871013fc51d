"""`/v1/admin/keys`: service keys, for the service role and staff only."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auth import services
from auth.api.serializers import (
    CreatedServiceKeySerializer,
    ServiceKeyCreateSerializer,
    ServiceKeyPageSerializer,
    ServiceKeySerializer,
)
from baas.pagination import TIMESTAMP, UUID, decode_cursor, page, parse_limit
from baas.permissions import ServiceOrStaff


class ServiceKeyListView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        summary="List active service keys",
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses=ServiceKeyPageSerializer,
        tags=["admin"],
    )
    def get(self, request: Request) -> Response:
        limit = parse_limit(request.query_params.get("limit"))
        position = decode_cursor(request.query_params.get("cursor"), (TIMESTAMP, UUID))
        after = (position[0], position[1]) if position and len(position) == 2 else None
        keys = services.list_service_keys(after=after, limit=limit)
        result = page(keys, limit, lambda key: [key.created_at.isoformat(), str(key.id)])
        result["items"] = ServiceKeySerializer(result["items"], many=True).data
        return Response(result)

    @extend_schema(
        summary="Create a service key (its secret is shown once)",
        request=ServiceKeyCreateSerializer,
        responses={201: CreatedServiceKeySerializer},
        tags=["admin"],
    )
    def post(self, request: Request) -> Response:
        body = ServiceKeyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key, secret = services.create_service_key(**body.validated_data)
        key.secret = secret  # type: ignore[attr-defined]
        return Response(CreatedServiceKeySerializer(key).data, status=201)


class ServiceKeyDetailView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(summary="Revoke a service key", responses={204: None}, tags=["admin"])
    def delete(self, request: Request, key_id: str) -> Response:
        services.revoke_service_key(key_id=key_id)
        return Response(status=204)
