"""REST views of functions: parse, call one service, render."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas import jsonvalues, multipart
from baas.errors import InvalidRequest, NotFound, TooLarge, ValidationFailed, error_body
from baas.openapi import json_body
from baas.pagination import INT, STRING, TIMESTAMP, UUID, decode_cursor, page, parse_limit
from baas.parsers import StrictJSONParser
from baas.permissions import ServiceOrStaff
from baas.principals import Principal, principal_of
from functions import delivery, services
from functions.api import awaiting, schemas
from functions.errors import SandboxUnavailable
from functions.models import Function, FunctionVersion, Invocation
from functions.sandbox import state as sandbox_state


def _time(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def version_repr(version: FunctionVersion, *, active_id: int | None) -> dict[str, Any]:
    return {
        "function": version.function.name,
        "version": version.number,
        "active": version.pk == active_id,
        "entry": version.entry,
        "timeout": version.timeout,
        "memory": version.memory,
        "env": version.env,
        "secrets": version.secret_names,  # names only: values never leave the server
        "network": version.network,
        "permissions": version.permissions,
        "max_retries": version.max_retries,
        "concurrency": version.concurrency,
        "rate_per_minute": version.rate_per_minute,
        "invoke": version.invoke,
        "triggers": version.triggers,
        "files": version.files,
        "size": version.size,
        "digest": version.digest,
        "created_at": _time(version.created_at),
        "created_by": version.created_by,
    }


def function_repr(function: Function) -> dict[str, Any]:
    active = function.active_version
    return {
        "name": function.name,
        "version": active.number if active else None,
        "active_version": version_repr(active, active_id=active.pk) if active else None,
        "created_at": _time(function.created_at),
        "updated_at": _time(function.updated_at),
    }


def may_see_internals(principal: Principal) -> bool:
    """Logs and tracebacks are for the function's owner: the service role and staff. Anyone else
    allowed to invoke (a signed-in user, an anonymous caller of a public function) gets the result,
    or the error's code and message — never what the function printed or its stack."""
    return principal.kind in ("service", "staff")


UNEXPLAINED_FAILURE = "The function failed."


def public_error(error: dict[str, Any] | None) -> dict[str, Any] | None:
    """An error as a caller who is not the owner sees it: the code and message the function (or the
    platform) chose, nothing else (no traceback, no details). An error carries a code only when it
    was chosen — an exception with a string `code` attribute (e.g. `baas_runtime.BaasError(message,
    code=...)`), or a platform failure (`timeout`, `sandbox_unavailable`…); any other exception's
    text may hold anything (`KeyError(<a secret>)`), so the caller gets a fixed message instead."""
    if not error:
        return error
    if not error.get("code"):
        return {"type": error.get("type"), "code": "function_error", "message": UNEXPLAINED_FAILURE}
    return {"type": error.get("type"), "code": error["code"], "message": error.get("message") or ""}


def invocation_repr(invocation: Invocation, *, for_owner: bool) -> dict[str, Any]:
    """An invocation for the API: every answer that shows one is built here. Its logs and the
    error's traceback only `for_owner` (see `may_see_internals`)."""
    return {
        "id": str(invocation.pk),
        "function": invocation.function.name,
        "version": invocation.version.number,
        "trigger": invocation.trigger,
        "handler": invocation.handler,
        "event_id": invocation.event_id,
        "seq": invocation.seq,
        "depth": invocation.depth,
        "status": invocation.status,
        "waiting": invocation.waiting or None,
        "attempts": invocation.attempts,
        "max_attempts": invocation.max_attempts,
        "next_attempt_at": _time(invocation.not_before) if invocation.status in Invocation.UNFINISHED else None,
        "event_at": _time(invocation.event_at),
        "queue_delay_ms": invocation.queue_delay_ms,
        "created_at": _time(invocation.created_at),
        "started_at": _time(invocation.started_at),
        "finished_at": _time(invocation.finished_at),
        "duration_ms": invocation.duration_ms,
        "logs": invocation.logs if for_owner else None,
        "result": invocation.result,
        "error": invocation.error if for_owner else public_error(invocation.error),
    }


def _function(name: str) -> Function:
    function = Function.objects.select_related("active_version__function").filter(name=name).first()
    if function is None:
        raise NotFound(f"There is no function named {name!r}.")
    return function


TAGS = ["functions"]
PAGE_PARAMETERS = [OpenApiParameter("limit", int), OpenApiParameter("cursor", str)]


class FunctionListView(APIView):
    permission_classes = [ServiceOrStaff]
    parser_classes = [StrictJSONParser, MultiPartParser]

    @extend_schema(
        operation_id="functions_list",
        summary="List functions",
        parameters=PAGE_PARAMETERS,
        responses={200: schemas.FUNCTION_PAGE},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        limit = parse_limit(request.query_params.get("limit"))
        after = decode_cursor(request.query_params.get("cursor"), (STRING,))
        rows = Function.objects.select_related("active_version__function").order_by("name")
        if after:
            rows = rows.filter(name__gt=str(after[0]))
        items = [function_repr(f) for f in rows[: limit + 1]]
        return Response(page(items, limit, lambda item: [item["name"]]))

    @extend_schema(
        operation_id="functions_deploy",
        summary="Deploy a new version (JSON files, or a multipart bundle)",
        request={"application/json": schemas.DEPLOY, "multipart/form-data": schemas.DEPLOY_BUNDLE},
        responses={201: schemas.VERSION},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        archive = None
        if request.content_type.startswith("multipart/"):
            config, archive = self._multipart(request)
        else:
            config = request.data
            if not isinstance(config, dict):
                raise InvalidRequest("The body must be a JSON object.")
        version = services.deploy_function(principal=principal_of(request), config=dict(config), archive=archive)
        # Which sandbox will run it ("bubblewrap", or "unsafe-local": the CLI warns).
        return Response({**version_repr(version, active_id=version.pk), "sandbox": sandbox_state()}, status=201)

    @staticmethod
    def _multipart(request: Request) -> tuple[dict[str, Any], bytes]:
        # Read with bounds (baas/multipart.py): the config fields before the bundle, a few KiB in
        # all, and the bundle itself up to its limit; a larger declared body is refused unread.
        http_request = request._request
        limit = settings.FUNCTIONS_BUNDLE_MAX_BYTES
        declared = http_request.META.get("CONTENT_LENGTH") or ""
        if declared.isdigit() and int(declared) > multipart.most_bytes(limit):
            raise TooLarge(f"A bundle may be at most {limit} bytes.", details={"limit": limit})
        try:
            form = multipart.file_with_fields(http_request, fields=_BUNDLE_FIELDS, file_fields=("bundle",))
        except InvalidRequest as error:
            if error.code != "missing_body":
                raise
            missing = {"bundle": [{"code": "required", "message": "Attach the bundle file."}]}
            raise ValidationFailed(details=missing) from None
        archive = form.stream.read(limit + 1)
        if len(archive) > limit:
            raise TooLarge(f"A bundle may be at most {limit} bytes.", details={"limit": limit})
        config: dict[str, Any] = {}
        if "config" in form.fields:
            try:
                config = jsonvalues.loads(form.fields["config"])
            except jsonvalues.UnacceptableValue as error:
                raise error.about("config", "invalid_request") from None
            if not isinstance(config, dict):
                raise InvalidRequest("config must be a JSON object.")
        for field in ("name", "entry", "network", "invoke"):
            if field in form.fields and field not in config:
                config[field] = form.fields[field]
        return config, archive


_BUNDLE_FIELDS = ("config", "name", "entry", "network", "invoke")


class FunctionDetailView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="functions_get",
        summary="Get a function, its active version and backlog",
        responses={200: schemas.FUNCTION_DETAIL},
        tags=TAGS,
    )
    def get(self, request: Request, name: str) -> Response:
        function = _function(name)
        return Response({**function_repr(function), "backlog": delivery.backlog(function)})

    @extend_schema(operation_id="functions_delete", summary="Delete a function", responses={204: None}, tags=TAGS)
    def delete(self, request: Request, name: str) -> Response:
        services.delete_function(name=name)
        return Response(status=204)


class FunctionVersionsView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="functions_versions_list",
        summary="List a function's versions, newest first",
        parameters=PAGE_PARAMETERS,
        responses={200: schemas.VERSION_PAGE},
        tags=TAGS,
    )
    def get(self, request: Request, name: str) -> Response:
        function = _function(name)
        limit = parse_limit(request.query_params.get("limit"))
        after = decode_cursor(request.query_params.get("cursor"), (INT,))
        rows = function.versions.select_related("function").order_by("-number").defer("bundle")
        if after:
            rows = rows.filter(number__lt=int(after[0]))
        items = [version_repr(v, active_id=function.active_version_id) for v in rows[: limit + 1]]
        return Response(page(items, limit, lambda item: [item["version"]]))


class FunctionRollbackView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="functions_rollback",
        summary="Make an earlier version the active one",
        request=json_body(schemas.ROLLBACK),
        responses={200: schemas.FUNCTION},
        tags=TAGS,
    )
    def post(self, request: Request, name: str) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        services.rollback_function(name=name, number=body.get("version"))
        return Response(function_repr(_function(name)))


def invoke_answer(invocation: Invocation, *, for_owner: bool) -> tuple[int, dict[str, Any]]:
    """The answer to a synchronous invoke once waited for: 200 with the result when it finished,
    202 without when it did not (here and in functions/api/awaiting.py); 503
    `sandbox_unavailable` when the worker had no sandbox to run it in."""
    if invocation.status not in Invocation.FINAL:
        return 202, {"invocation": invocation_repr(invocation, for_owner=for_owner)}
    if (invocation.error or {}).get("code") == SandboxUnavailable.code:
        message = invocation.error.get("message") or SandboxUnavailable.default_message
        return SandboxUnavailable.http_status, error_body(SandboxUnavailable.code, message)
    return 200, {"invocation": invocation_repr(invocation, for_owner=for_owner), "result": invocation.result}


class FunctionInvokeView(APIView):
    """Who may call is the version's `invoke` setting (service and staff always)."""

    @extend_schema(
        operation_id="functions_invoke",
        summary="Call a function's @on_http handler (waits for the result unless async)",
        parameters=[OpenApiParameter("async", bool, description="true: answer 202 at once")],
        request=json_body(schemas.INVOKE),
        responses={200: schemas.INVOKED, 202: schemas.QUEUED},
        tags=TAGS,
    )
    def post(self, request: Request, name: str) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        principal = principal_of(request)
        for_owner = may_see_internals(principal)
        invocation = services.invoke_http(principal=principal, name=name, payload=body.get("payload"))
        if request.query_params.get("async") in ("true", "1"):
            return Response({"invocation": invocation_repr(invocation, for_owner=for_owner)}, status=202)
        timeout = invocation.version.timeout + settings.FUNCTIONS_INVOKE_QUEUE_GRACE_SECONDS
        if awaiting.may_hand_off(request.META):
            # baas.asgi awaits the result without holding this thread, then answers.
            audience = "owner" if for_owner else "caller"
            handoff = f"{invocation.pk} {timeout} {audience}"
            return Response(status=202, headers={awaiting.HANDOFF_RESPONSE_HEADER: handoff})
        status, data = invoke_answer(services.wait_for(invocation.pk, timeout), for_owner=for_owner)
        return Response(data, status=status)


class FunctionInvocationsView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="functions_invocations_list",
        summary="List a function's invocations, newest first",
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter("status", str, enum=[choice for choice, _ in Invocation.STATUS_CHOICES]),
        ],
        responses={200: schemas.INVOCATION_PAGE},
        tags=TAGS,
    )
    def get(self, request: Request, name: str) -> Response:
        function = _function(name)
        limit = parse_limit(request.query_params.get("limit"))
        after = decode_cursor(request.query_params.get("cursor"), (TIMESTAMP, UUID))
        rows = Invocation.objects.filter(function=function).select_related("function", "version")
        status = request.query_params.get("status")
        if status:
            if status not in dict(Invocation.STATUS_CHOICES):
                raise InvalidRequest(f"status must be one of {', '.join(dict(Invocation.STATUS_CHOICES))}.")
            rows = rows.filter(status=status)
        if after:
            from django.db.models import Q
            from django.utils.dateparse import parse_datetime

            at = parse_datetime(str(after[0]))
            if at is None:
                raise InvalidRequest("The cursor is not one this API handed out.")
            rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=after[1]))
        rows = rows.order_by("-created_at", "-id")[: limit + 1]
        for_owner = may_see_internals(principal_of(request))
        items = [invocation_repr(i, for_owner=for_owner) for i in rows]
        return Response(page(items, limit, lambda item: [item["created_at"], item["id"]]))


class InvocationDetailView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="invocations_get", summary="Get an invocation", responses={200: schemas.INVOCATION}, tags=TAGS
    )
    def get(self, request: Request, invocation_id: str) -> Response:
        invocation = Invocation.objects.select_related("function", "version").filter(pk=invocation_id).first()
        if invocation is None:
            raise NotFound("There is no such invocation.")
        return Response(invocation_repr(invocation, for_owner=may_see_internals(principal_of(request))))


class InvocationRetryView(APIView):
    """Queue a dead (or failed) invocation again: 202 with the queued invocation."""

    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="invocations_retry",
        summary="Queue a dead or failed invocation again",
        request=None,
        responses={202: schemas.INVOCATION},
        tags=TAGS,
    )
    def post(self, request: Request, invocation_id: str) -> Response:
        retried = delivery.retry(invocation_id)
        return Response(invocation_repr(retried, for_owner=may_see_internals(principal_of(request))), status=202)
