"""`GET /v1/admin/audit`: the audit log (baas.audit), newest first, for the service role and staff."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas import audit
from baas.models import AuditEntry
from baas.openapi import ANY, PAGE_PARAMETERS, STRING, TIMESTAMP, component, examples, nullable, obj, page_of
from baas.pagination import INT, decode_cursor, page, parse_limit
from baas.permissions import ServiceOrStaff
from baas.timestamps import rfc3339

AUDIT_ENTRY = component(
    "AuditEntry",
    obj(
        id={"type": "integer"},
        at=TIMESTAMP,
        actor=obj(
            kind={"type": "string", "description": "staff, service, function, user or system (a command)."},
            id=nullable(STRING),
            email=nullable(STRING),
        ),
        action={"type": "string", "description": 'What changed, e.g. "collection.rules.update".'},
        target={"type": "string", "description": 'What it changed, e.g. "collection:posts".'},
        before=ANY,
        after=ANY,
        request_id=nullable(STRING),
    ),
)
AUDIT_PAGE = component("AuditEntryPage", page_of(AUDIT_ENTRY))
examples(
    "admin_audit_list",
    r200={
        "items": [
            {
                "id": 314,
                "at": "2026-01-06T14:00:00Z",
                "actor": {"kind": "staff", "id": "1", "email": "ops@example.com"},
                "action": "collection.rules.update",
                "target": "collection:notes",
                "before": {"read": "$owner == auth.id"},
                "after": {"read": "auth != null"},
                "request_id": "7e51c5b8ff5e41b7b50044df7680aa20",
            }
        ],
        "next_cursor": "MzE0",
    },
)


def represent(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": rfc3339(entry.at),
        "actor": audit.actor_of(entry),
        "action": entry.action,
        "target": entry.target,
        "before": entry.before,
        "after": entry.after,
        "request_id": entry.request_id or None,
    }


class AuditListView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="admin_audit_list",
        summary="The audit log, newest first",
        description="Every administrative change (rules, schema, indexes, collections, users, claims, "
        "sessions, service keys, buckets, function deployments, rollbacks, deletes, retries): who, when, "
        "what, and the state before and after. Append-only.",
        parameters=[
            OpenApiParameter("actor", str, description="The acting principal's id or email (exact)."),
            OpenApiParameter(
                "action",
                str,
                description='An action, or its prefix up to a dot: "collection" matches "collection.rules.update".',
            ),
            OpenApiParameter("target", str, description='A target (exact), e.g. "collection:posts".'),
            OpenApiParameter("since", str, description="Entries at or after this timestamp (ISO 8601, with a zone)."),
            OpenApiParameter("until", str, description="Entries before this timestamp."),
            *PAGE_PARAMETERS,
        ],
        responses={
            200: AUDIT_PAGE,
            401: OpenApiResponse(description="not_authenticated"),
            403: OpenApiResponse(description="permission_denied"),
        },
        tags=["admin"],
    )
    def get(self, request: Request) -> Response:
        query = request.query_params
        limit = parse_limit(query.get("limit"))
        position = decode_cursor(query.get("cursor"), (INT,))
        rows = audit.entries(
            actor=query.get("actor"),
            action=query.get("action"),
            target=query.get("target"),
            since=audit.parse_time(query.get("since"), name="since"),
            until=audit.parse_time(query.get("until"), name="until"),
            before_id=int(position[0]) if position else None,
            limit=limit,
        )
        result = page(rows, limit, lambda row: [row.id])
        result["items"] = [represent(row) for row in result["items"]]
        return Response(result)
