"""REST views of outgoing webhooks (service role and staff): parse, call one service, render."""

from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas.errors import InvalidRequest, refuse_any_body
from baas.openapi import PAGE_PARAMETERS, json_body
from baas.pagination import TIMESTAMP, UUID, decode_cursor, name_position, page, parse_limit
from baas.permissions import ServiceOrStaff
from baas.principals import principal_of
from webhooks import selectors, services
from webhooks.api import schemas
from webhooks.api.representations import delivery_repr, webhook_repr

TAGS = ["webhooks"]


class WebhookListView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="webhooks_list",
        summary="List outgoing webhooks",
        parameters=PAGE_PARAMETERS,
        responses={200: schemas.WEBHOOK_PAGE},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        limit, after = name_position(request.query_params)
        rows = selectors.list_webhooks(after_name=after, limit=limit)
        return Response(page([webhook_repr(w) for w in rows], limit, lambda item: [item["name"]]))

    @extend_schema(
        operation_id="webhooks_create",
        summary="Create a webhook: a collection's or bucket's events POSTed, signed, to a URL",
        request=json_body(schemas.CREATE),
        responses={201: schemas.WEBHOOK_WITH_SECRET},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        webhook, secret = services.create_webhook(principal=principal_of(request), body=request.data)
        return Response({**webhook_repr(webhook), "secret": secret}, status=201)


class WebhookDetailView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(operation_id="webhooks_get", summary="Get a webhook", responses={200: schemas.WEBHOOK}, tags=TAGS)
    def get(self, request: Request, name: str) -> Response:
        return Response(webhook_repr(selectors.get_webhook(name)))

    @extend_schema(
        operation_id="webhooks_update",
        summary="Change a webhook's URL, events, filter, retries, or turn it on or off",
        request=json_body(schemas.UPDATE),
        responses={200: schemas.WEBHOOK},
        tags=TAGS,
    )
    def patch(self, request: Request, name: str) -> Response:
        webhook = services.update_webhook(principal=principal_of(request), name=name, body=request.data)
        return Response(webhook_repr(webhook))

    @extend_schema(operation_id="webhooks_delete", summary="Delete a webhook", responses={204: None}, tags=TAGS)
    def delete(self, request: Request, name: str) -> Response:
        services.delete_webhook(principal=principal_of(request), name=name)
        return Response(status=204)


class WebhookRotateSecretView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="webhooks_rotate_secret",
        summary="Replace the signing secret (the old one still signs during the grace period)",
        request=json_body(schemas.ROTATE),
        responses={200: schemas.WEBHOOK_WITH_SECRET},
        tags=TAGS,
    )
    def post(self, request: Request, name: str) -> Response:
        webhook, secret = services.rotate_secret(principal=principal_of(request), name=name, body=request.data)
        return Response({**webhook_repr(webhook), "secret": secret})


class WebhookTestView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="webhooks_test",
        summary="Send a webhook.test delivery now (one attempt)",
        request=None,
        responses={202: schemas.DELIVERY},
        tags=TAGS,
    )
    def post(self, request: Request, name: str) -> Response:
        refuse_any_body(request.data)
        return Response(delivery_repr(services.send_test(principal=principal_of(request), name=name)), status=202)


class WebhookDeliveriesView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="webhooks_deliveries_list",
        summary="List a webhook's deliveries and their attempts, newest first",
        parameters=[*PAGE_PARAMETERS, OpenApiParameter("status", str, enum=list(selectors.DELIVERY_STATUSES))],
        responses={200: schemas.DELIVERY_PAGE},
        tags=TAGS,
    )
    def get(self, request: Request, name: str) -> Response:
        webhook = selectors.get_webhook(name)
        limit = parse_limit(request.query_params.get("limit"))
        status = request.query_params.get("status")
        if status and status not in selectors.DELIVERY_STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(selectors.DELIVERY_STATUSES)}.")
        rows = selectors.list_deliveries(webhook, status=status, after=_position(request), limit=limit)
        return Response(page([delivery_repr(d) for d in rows], limit, lambda item: [item["created_at"], item["id"]]))


def _position(request: Request) -> tuple[Any, Any] | None:
    after = decode_cursor(request.query_params.get("cursor"), (TIMESTAMP, UUID))
    if not after:
        return None
    at = parse_datetime(str(after[0]))
    if at is None:
        raise InvalidRequest("The cursor is not one this API handed out.")
    return at, after[1]


class WebhookDeliveryDetailView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="webhook_deliveries_get",
        summary="Get a webhook delivery and its attempts",
        responses={200: schemas.DELIVERY},
        tags=TAGS,
    )
    def get(self, request: Request, delivery_id: str) -> Response:
        return Response(delivery_repr(selectors.get_delivery(delivery_id)))


class WebhookDeliveryRetryView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="webhook_deliveries_retry",
        summary="Send a dead (or delivered) webhook delivery again",
        request=None,
        responses={202: schemas.DELIVERY},
        tags=TAGS,
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        refuse_any_body(request.data)
        retried = services.retry_delivery(principal=principal_of(request), delivery_id=delivery_id)
        return Response(delivery_repr(retried), status=202)
