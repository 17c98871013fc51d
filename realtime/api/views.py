"""`/v1/realtime/channels/rules`: the channel rules, for the service role and staff."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas.openapi import component, json_body, obj
from baas.permissions import ServiceOrStaff
from baas.principals import principal_of
from realtime import selectors, services
from realtime.api.representations import CHANNEL_RULES_SCHEMA, RULE_SCHEMA, channel_rules_repr

CHANNEL_RULES_UPDATE = component("ChannelRulesUpdate", obj(required=[], join=RULE_SCHEMA, broadcast=RULE_SCHEMA))

_DENIED = {
    401: OpenApiResponse(description="not_authenticated / token_invalid / token_expired"),
    403: OpenApiResponse(description="permission_denied"),
}


class ChannelRulesView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="channel_rules_get",
        summary="The channel rules (join, broadcast; null = the default)",
        responses={200: CHANNEL_RULES_SCHEMA, **_DENIED},
        tags=["realtime"],
    )
    def get(self, request: Request) -> Response:
        return Response(channel_rules_repr(selectors.access_channel_rules(principal_of(request))))

    @extend_schema(
        operation_id="channel_rules_replace",
        summary="Replace the channel rules",
        request=json_body(CHANNEL_RULES_UPDATE),
        responses={
            200: CHANNEL_RULES_SCHEMA,
            400: OpenApiResponse(
                description="invalid_rule (with line, column and operation) / validation_error (an unknown "
                "field: unknown_field; a rule that is not a string) / invalid_request (not a JSON object)"
            ),
            **_DENIED,
        },
        tags=["realtime"],
    )
    def put(self, request: Request) -> Response:
        rules = services.replace_channel_rules(body=request.data, actor=principal_of(request))
        return Response(channel_rules_repr(rules))
