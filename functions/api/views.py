"""REST views of functions: parse, call one service, render."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django.conf import settings
from django.http import HttpResponse
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from baas import jsonvalues, multipart
from baas.errors import InvalidRequest, TooLarge, field_error, refuse_any_body, refuse_unknown_fields, require_object
from baas.openapi import PAGE_PARAMETERS, json_body
from baas.pagination import INT, TIMESTAMP, UUID, decode_cursor, name_position, page, parse_limit
from baas.parsers import StrictJSONParser
from baas.permissions import Authenticated, ServiceOrStaff
from baas.principals import principal_of
from functions import selectors, services, waiting
from functions.api import awaiting, http_route, logstream, schemas
from functions.api.representations import function_repr, http_answer, invocation_repr, invoke_answer, version_repr
from functions.errors import DetailCode
from functions.sandbox import state as sandbox_state

TAGS = ["functions"]


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
        limit, after = name_position(request.query_params)
        rows = selectors.list_functions(principal_of(request), after_name=after, limit=limit)
        return Response(page([function_repr(f) for f in rows], limit, lambda item: [item["name"]]))

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
            config = require_object(request.data)
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
            raise field_error("bundle", DetailCode.REQUIRED, "Attach the bundle file.") from None
        archive = form.stream.read(limit + 1)
        if len(archive) > limit:
            raise TooLarge(f"A bundle may be at most {limit} bytes.", details={"limit": limit})
        config: dict[str, Any] = {}
        if "config" in form.fields:
            try:
                config = jsonvalues.loads(form.fields["config"])
            except jsonvalues.UnacceptableValue as error:
                raise error.about("config", "invalid_request") from None
            config = require_object(config, what="config")
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
        function = selectors.access_function(principal_of(request), name)
        return Response({**function_repr(function), "backlog": selectors.backlog(function)})

    @extend_schema(operation_id="functions_delete", summary="Delete a function", responses={204: None}, tags=TAGS)
    def delete(self, request: Request, name: str) -> Response:
        services.delete_function(principal=principal_of(request), name=name)
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
        function = selectors.access_function(principal_of(request), name)
        limit = parse_limit(request.query_params.get("limit"))
        after = decode_cursor(request.query_params.get("cursor"), (INT,))
        rows = selectors.list_versions(function, before_number=int(after[0]) if after else None, limit=limit)
        items = [version_repr(v, active_id=function.active_version_id) for v in rows]
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
        body = _body(request)
        refuse_unknown_fields(body, ("version",))
        function = services.rollback_function(principal=principal_of(request), name=name, number=body.get("version"))
        return Response(function_repr(function))


def _body(request: Request) -> dict[str, Any]:
    """The JSON object of a body that may be left out (no body at all reads as `{}`)."""
    return require_object(request.data if request.data else {})


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
        principal = principal_of(request)
        function = selectors.access_invocable(principal, name)  # 404 / 401 / 403 before the body
        body = _body(request)
        refuse_unknown_fields(body, ("payload",))
        invocation = services.invoke_http(principal=principal, function=function, payload=body.get("payload"))
        for_owner = selectors.may_see_internals(principal)
        if request.query_params.get("async") in ("true", "1"):
            return Response({"invocation": invocation_repr(invocation, for_owner=for_owner)}, status=202)
        timeout = invocation.version.timeout + settings.FUNCTIONS_INVOKE_QUEUE_GRACE_SECONDS
        if awaiting.may_hand_off(request.META):
            # baas.asgi awaits the result without holding this thread, then answers.
            handoff = awaiting.handoff_header(invocation.pk, timeout, for_owner=for_owner)
            return Response(status=202, headers=handoff)
        status, data = invoke_answer(waiting.wait_for(invocation.pk, timeout), for_owner=for_owner)
        return Response(data, status=status)


class _PlatformBearerOnly(BaseAuthentication):
    """Credentials at `/http/`: only the platform's own, `Authorization: Bearer <service key or
    access token>` (checked by the default bearer classes: a bad one is 401, as at `/invoke`). Any
    other Authorization scheme (Basic, a sender's own) is the function's business: not read here,
    passed on to the handler, the caller anonymous. The console's session cookie is not a
    credential here, so a cross-site form cannot call a function as a signed-in operator."""

    def __init__(self) -> None:
        classes = cast("list[type[BaseAuthentication]]", api_settings.DEFAULT_AUTHENTICATION_CLASSES)
        self._bearer = [cls() for cls in classes if not issubclass(cls, SessionAuthentication)]

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        if not http_route.platform_bearer(request.META):
            return None
        for authenticator in self._bearer:
            found = authenticator.authenticate(request)
            if found is not None:
                return found
        return None

    def authenticate_header(self, request: Request) -> str | None:
        return self._bearer[0].authenticate_header(request) if self._bearer else None


class _AnyAccept(BaseContentNegotiation):
    """A webhook sender's Accept header is not ours to refuse (no 406): errors are JSON, and the
    function's answer carries its own Content-Type."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> Any:
        return None  # the body is read raw (http_route.read_body), never parsed by DRF

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> Any:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def _http_schema(method: str) -> Any:
    return extend_schema(
        operation_id=f"functions_http_{method}",
        summary=f"{method.upper()} to a function's @on_http handler (webhooks): it chooses the answer",
        description=schemas.HTTP_ROUTE_DESCRIPTION,
        parameters=[
            OpenApiParameter("subpath", str, OpenApiParameter.PATH, description=schemas.HTTP_SUBPATH),
            *schemas.HTTP_ANSWER_HEADERS,
        ],
        request=schemas.HTTP_REQUEST if method in ("post", "put", "patch") else None,
        responses=schemas.HTTP_RESPONSES,
        tags=TAGS,
    )


class FunctionHttpView(APIView):
    """Any method at `/v1/functions/{name}/http/{path}`: the @on_http handler answers (webhooks).
    The same machinery as `/invoke` (who may call, an invocation recorded, the same wait); the
    request reaches the handler whole (functions/api/http_route.py) and the handler chooses the
    status, headers and body (baas_runtime/_http.py)."""

    authentication_classes = [_PlatformBearerOnly]
    content_negotiation_class = _AnyAccept
    renderer_classes = [JSONRenderer]
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    @property
    def default_response_headers(self) -> dict[str, str]:
        return {}  # no Allow / Vary of DRF's on the function's answer

    def _answer(self, request: Request, name: str, subpath: str = "") -> HttpResponse:
        principal = principal_of(request)
        function = selectors.access_invocable(principal, name)  # 404 / 401 / 403 before the body
        body = http_route.read_body(request._request)
        invocation = services.invoke_http(
            principal=principal,
            function=function,
            payload=http_route.payload_of(request.META, body),
            request=http_route.request_event(request._request, subpath, body),
        )
        for_owner = selectors.may_see_internals(principal)
        timeout = invocation.version.timeout + settings.FUNCTIONS_INVOKE_QUEUE_GRACE_SECONDS
        head = request.method == "HEAD"
        if awaiting.may_hand_off(request.META):
            kind = awaiting.HTTP_HEAD if head else awaiting.HTTP
            handoff = awaiting.handoff_header(invocation.pk, timeout, for_owner=for_owner, answer=kind)
            return Response(status=202, headers=handoff)
        status, headers, content = http_answer(waiting.wait_for(invocation.pk, timeout), for_owner=for_owner)
        return http_route.django_response(status, headers, content, head=head)

    @_http_schema("get")
    def get(self, request: Request, name: str, subpath: str = "") -> HttpResponse:
        return self._answer(request, name, subpath)

    @_http_schema("post")
    def post(self, request: Request, name: str, subpath: str = "") -> HttpResponse:
        return self._answer(request, name, subpath)

    @_http_schema("put")
    def put(self, request: Request, name: str, subpath: str = "") -> HttpResponse:
        return self._answer(request, name, subpath)

    @_http_schema("patch")
    def patch(self, request: Request, name: str, subpath: str = "") -> HttpResponse:
        return self._answer(request, name, subpath)

    @_http_schema("delete")
    def delete(self, request: Request, name: str, subpath: str = "") -> HttpResponse:
        return self._answer(request, name, subpath)

    def head(self, request: Request, name: str, subpath: str = "") -> HttpResponse:
        return self._answer(request, name, subpath)

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        # A CORS preflight never gets here (baas.origins answers it): this is the sender's OPTIONS.
        return self._answer(request, kwargs["name"], kwargs.get("subpath", ""))


@extend_schema(exclude=True)  # the same operations as FunctionHttpView's, with an empty path
class FunctionHttpRootView(FunctionHttpView):
    pass


class FunctionInvocationsView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="functions_invocations_list",
        summary="List a function's invocations, newest first",
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter("status", str, enum=list(selectors.INVOCATION_STATUSES)),
        ],
        responses={200: schemas.INVOCATION_PAGE},
        tags=TAGS,
    )
    def get(self, request: Request, name: str) -> Response:
        principal = principal_of(request)
        function = selectors.access_function(principal, name)
        limit = parse_limit(request.query_params.get("limit"))
        after = decode_cursor(request.query_params.get("cursor"), (TIMESTAMP, UUID))
        status = request.query_params.get("status")
        if status and status not in selectors.INVOCATION_STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(selectors.INVOCATION_STATUSES)}.")
        position = None
        if after:
            at = parse_datetime(str(after[0]))
            if at is None:
                raise InvalidRequest("The cursor is not one this API handed out.")
            position = (at, after[1])
        rows = selectors.list_invocations(function, status=status, after=position, limit=limit)
        for_owner = selectors.may_see_internals(principal)
        items = [invocation_repr(i, for_owner=for_owner) for i in rows]
        return Response(page(items, limit, lambda item: [item["created_at"], item["id"]]))


class InvocationDetailView(APIView):
    """An invocation: for the service role and staff, and for the principal who invoked it (so that
    a caller answered 202 by a slow synchronous invoke can fetch the result)."""

    permission_classes = [Authenticated]

    @extend_schema(
        operation_id="invocations_get", summary="Get an invocation", responses={200: schemas.INVOCATION}, tags=TAGS
    )
    def get(self, request: Request, invocation_id: str) -> Response:
        principal = principal_of(request)
        invocation = selectors.access_invocation(principal, invocation_id)
        return Response(invocation_repr(invocation, for_owner=selectors.may_see_internals(principal)))


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
        refuse_any_body(request.data)
        principal = principal_of(request)
        retried = services.retry_invocation(principal=principal, invocation_id=invocation_id)
        return Response(invocation_repr(retried, for_owner=selectors.may_see_internals(principal)), status=202)


class EventStreamRenderer(BaseRenderer):
    """Lets a client ask for `text/event-stream`; the body is already the events' bytes (an error
    answer is still the usual JSON error object)."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return data if isinstance(data, bytes) else JSONRenderer().render(data)


class FunctionLogsView(APIView):
    """The function's finished attempts, with their logs: a live stream of server-sent events
    (`Accept: text/event-stream`; functions/api/logstream.py), or one JSON page to poll."""

    permission_classes = [ServiceOrStaff]
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(
        operation_id="functions_logs",
        summary="Stream a function's finished invocations with their logs (server-sent events)",
        parameters=[
            OpenApiParameter("cursor", str, description="resume after this event id (or send Last-Event-ID)"),
            OpenApiParameter("tail", int, description="without a cursor: start with the last N (default 10)"),
            OpenApiParameter("follow", bool, description="false: send what there is, then end the stream"),
        ],
        responses={200: schemas.LOG_PAGE},
        tags=TAGS,
    )
    def get(self, request: Request, name: str) -> Response:
        function = selectors.access_function(principal_of(request), name)
        cursor = request.query_params.get("cursor") or request.META.get("HTTP_LAST_EVENT_ID") or None
        position = None
        after = decode_cursor(cursor, (TIMESTAMP, UUID))
        if after:
            at = parse_datetime(str(after[0]))
            if at is None:
                raise InvalidRequest("The cursor is not one this API handed out.")
            position = (at, after[1])
        tail = _tail(request.query_params.get("tail"))
        follow = request.query_params.get("follow", "true") not in ("false", "0")
        streaming = request.accepted_renderer.format == "sse"
        if streaming and follow and awaiting.may_hand_off(request.META):
            # baas.asgi holds the stream open on its event loop, not in this thread.
            return Response(status=200, headers=logstream.handoff_header(function.pk, position, tail))
        rows = selectors.finished_attempts(function.pk, after=position, tail=tail, limit=100)
        items = [logstream.entry(row) for row in rows]
        if streaming:
            events = b"".join(logstream.event_bytes(item) for item in items)
            # Never an empty body (DRF would drop its Content-Type): an opening comment line first.
            return Response(b": logs\n\n" + events, content_type="text/event-stream")
        return Response({"items": items, "cursor": items[-1]["cursor"] if items else cursor})


def _tail(raw: str | None) -> int:
    if raw is None:
        return 10
    if not raw.isdigit() or int(raw) > 100:
        raise field_error("tail", "invalid", "tail must be a whole number from 0 to 100.")
    return int(raw)


class FunctionSecretsView(APIView):
    """The names of the active version's secrets; PATCH sets or removes some (a new version)."""

    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="functions_secrets_list",
        summary="List the names of a function's secrets",
        responses={200: schemas.SECRETS},
        tags=TAGS,
    )
    def get(self, request: Request, name: str) -> Response:
        function = selectors.access_function(principal_of(request), name)
        active = function.active_version
        return Response({"names": sorted(active.secret_names) if active else []})

    @extend_schema(
        operation_id="functions_secrets_change",
        summary="Set or remove secrets (deploys a new version with the same code)",
        request=json_body(schemas.SECRETS_CHANGE),
        responses={201: schemas.VERSION},
        tags=TAGS,
    )
    def patch(self, request: Request, name: str) -> Response:
        body = require_object(request.data)
        refuse_unknown_fields(body, ("set", "unset"))
        version = services.change_secrets(
            principal=principal_of(request), name=name, set_values=body.get("set") or {}, unset=body.get("unset") or []
        )
        return Response({**version_repr(version, active_id=version.pk), "sandbox": sandbox_state()}, status=201)
