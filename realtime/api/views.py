"""`/v1/realtime/channels/rules`: the channel rules, for the service role and staff."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas.openapi import STRING, component, json_body, nullable, obj
from baas.permissions import ServiceOrStaff
from baas.principals import principal_of
from realtime import channel_rules

_RULE = {**nullable(STRING), "description": "An expression with `channel` and `auth` in scope; null: the default."}
CHANNEL_RULES = component(
    "ChannelRules",
    obj(join=_RULE, broadcast=_RULE, default=STRING, version={"type": "integer", "minimum": 0}),
)
CHANNEL_RULES_UPDATE = component("ChannelRulesUpdate", obj(required=[], join=_RULE, broadcast=_RULE))

_DENIED = {
    401: OpenApiResponse(description="not_authenticated / token_invalid / token_expired"),
    403: OpenApiResponse(description="permission_denied"),
}


class ChannelRulesView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        summary="The channel rules (join, broadcast; null = the default)",
        responses={200: CHANNEL_RULES, **_DENIED},
        tags=["realtime"],
    )
    def get(self, request: Request) -> Response:
        return Response(channel_rules.describe(channel_rules.load()))

    @extend_schema(
        summary="Replace the channel rules",
        request=json_body(CHANNEL_RULES_UPDATE),
        responses={
            200: CHANNEL_RULES,
            400: OpenApiResponse(description="invalid_rule (with line and column) / invalid_request"),
            **_DENIED,
        },
        tags=["realtime"],
    )
    def put(self, request: Request) -> Response:
        rules = channel_rules.save(body=request.data, actor=principal_of(request))
        return Response(channel_rules.describe(rules))
