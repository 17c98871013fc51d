"""REST views of object storage: parse, call one service, render.

Object views read the raw request (never `request.data`), so an upload streams from the socket
to the backend; downloads stream from the backend to the socket.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    QueryDict,
    StreamingHttpResponse,
)
from django.utils.http import content_disposition_header, http_date, parse_http_date_safe
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas import conditional
from baas.errors import InvalidRequest, KernelCode, PreconditionFailed, refuse_unknown_fields, require_object
from baas.openapi import PAGE_PARAMETERS, json_body
from baas.pagination import name_position, page
from baas.permissions import ServiceOrStaff
from baas.principals import Principal, principal_of
from storage import selectors, services
from storage.api import representations, schemas
from storage.api.lean import LeanObjectDispatch
from storage.errors import RangeNotSatisfiable, SignedUrlInvalid
from storage.rows import ObjectRow
from storage.selectors import Found
from storage.streams import multipart_file, parse_metadata, raw_body

TAGS = ["storage"]
# Types a browser would run as a page or script: always downloaded, never shown inline.
ACTIVE_TYPES = {
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
}
# Objects are user content served from the API's origin: no scripts, no plugins, no forms.
CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox"
_JSON = JSONRenderer()


class AnyAccept(BaseContentNegotiation):
    """Object views answer bytes or JSON errors whatever the client's Accept header says."""

    def select_parser(self, request: Any, parsers: Any) -> None:
        return None

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


# --- buckets ------------------------------------------------------------------------------------


class BucketListView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="buckets_list",
        summary="List buckets",
        parameters=PAGE_PARAMETERS,
        responses={200: schemas.BUCKET_PAGE},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        limit, after = name_position(request.query_params)
        rows = selectors.list_buckets(principal=principal_of(request), after=after, limit=limit)
        result = page(rows, limit, lambda bucket: [bucket.name])
        result["items"] = [representations.bucket_dict(bucket) for bucket in result["items"]]
        return Response(result)

    @extend_schema(
        operation_id="buckets_create",
        summary="Create a bucket",
        request=json_body(schemas.BUCKET_CREATE),
        responses={201: schemas.BUCKET},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        bucket = services.create_bucket(principal=principal_of(request), fields=request.data)
        return Response(representations.bucket_dict(bucket), status=201)


class BucketDetailView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(operation_id="buckets_get", summary="Get a bucket", responses={200: schemas.BUCKET}, tags=TAGS)
    def get(self, request: Request, name: str) -> Response:
        bucket = selectors.access_bucket(principal=principal_of(request), name=name)
        return Response(representations.bucket_dict(bucket))

    @extend_schema(
        operation_id="buckets_update",
        summary="Change a bucket",
        request=json_body(schemas.BUCKET_CHANGE),
        responses={200: schemas.BUCKET},
        tags=TAGS,
    )
    def patch(self, request: Request, name: str) -> Response:
        bucket = services.update_bucket(principal=principal_of(request), name=name, changes=request.data)
        return Response(representations.bucket_dict(bucket))

    @extend_schema(operation_id="buckets_delete", summary="Delete an empty bucket", responses={204: None}, tags=TAGS)
    def delete(self, request: Request, name: str) -> Response:
        services.delete_bucket(principal=principal_of(request), name=name)
        return Response(status=204)


# --- objects ------------------------------------------------------------------------------------


class ObjectListView(APIView):
    @extend_schema(
        operation_id="objects_list",
        summary="List objects by prefix (only those the caller may read)",
        parameters=[OpenApiParameter("prefix", str), *PAGE_PARAMETERS],
        responses={200: schemas.OBJECT_PAGE},
        tags=TAGS,
    )
    def get(self, request: Request, bucket: str) -> Response:
        limit, after = name_position(request.query_params)
        rows = selectors.list_objects(
            principal=principal_of(request),
            bucket=bucket,
            prefix=request.query_params.get("prefix", ""),
            after=after,
            limit=limit,
        )
        result = page(rows, limit, lambda row: [row["path"]])
        result["items"] = [representations.object_dict(row, bucket) for row in result["items"]]
        return Response(result)


_RANGE_SPEC = re.compile(r"^(\d*)-(\d*)$")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) of the one range to serve; None to serve the whole object (RFC 9110 §14.2).

    A header that is not a valid byte-range set is ignored. Of several ranges none is served
    alone: when at least one is satisfiable the whole object is sent (200) — a server may ignore
    Range — and only a set with no satisfiable range at all is refused with 416.
    """
    if not header:
        return None
    header = header.strip()
    if not header.startswith("bytes="):
        return None
    specs = [_range_spec(part.strip()) for part in header[len("bytes=") :].split(",")]
    if not specs or any(spec is None for spec in specs):
        return None  # not a valid byte-range set: ignored
    satisfiable = [_satisfiable(spec, size) for spec in specs if spec is not None]
    served = [found for found in satisfiable if found is not None]
    if not served:
        message = "The range starts beyond the end of the object." if len(specs) == 1 else "No range is satisfiable."
        raise _unsatisfiable(size, message)
    return served[0] if len(specs) == 1 else None


def _range_spec(text: str) -> tuple[int | None, int | None] | None:
    """`first-last`, `first-` or `-suffix` → (first, last); None when not a valid range spec."""
    match = _RANGE_SPEC.match(text.replace(" ", ""))
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first = int(match.group(1)) if match.group(1) else None
    last = int(match.group(2)) if match.group(2) else None
    if first is not None and last is not None and last < first:
        return None
    return first, last


def _satisfiable(spec: tuple[int | None, int | None], size: int) -> tuple[int, int] | None:
    first, last = spec
    if first is not None:
        if first >= size:
            return None
        end = min(last if last is not None else size - 1, size - 1)
        return first, end - first + 1
    if not last or size == 0:  # a zero suffix, or any suffix of an empty object, selects no bytes
        return None
    start = max(0, size - last)
    return start, size - start


def _unsatisfiable(size: int, message: str) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(message, details={"size": size}, headers={"Content-Range": f"bytes */{size}"})


def _passes(check: Any, header: str, etag: str, *, otherwise: bool) -> bool:
    """A precondition on a read; a header holding no entity tag is not an error there: an
    If-Match that cannot match fails (412), an If-None-Match that cannot match passes (200)."""
    try:
        return bool(check(header, etag))
    except InvalidRequest:
        return otherwise


def _disposition(obj: ObjectRow, download: bool) -> str:
    filename = obj.path.rsplit("/", 1)[-1]
    attachment = download or obj.content_type in ACTIVE_TYPES
    return content_disposition_header(attachment, filename) or ("attachment" if attachment else "inline")


def _object_headers(response: HttpResponseBase, obj: ObjectRow, public: bool) -> None:
    response["ETag"] = f'"{obj.etag}"'
    response["Last-Modified"] = http_date(obj.updated_at.timestamp())
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "public, no-cache" if public else "private, no-cache"


def _serve(
    http_request: HttpRequest, principal: Principal, bucket: str, path: str, *, head: bool, found: Found | None = None
) -> HttpResponseBase:
    query = query_of(http_request)
    signed = "signature" in query or "expires" in query
    expires = query.get("expires") if signed else None
    bucket_row, obj = selectors.access_object(
        principal=principal,
        bucket=bucket,
        path=path,
        expires=expires,
        signature=query.get("signature") if signed else None,
        found=found,
    )
    download = query.get("download", "") not in ("", "0", "false")
    disposition = _disposition(obj, download)
    if signed and not head:
        target = services.presigned_redirect(obj, expires_at=int(expires or 0), disposition=disposition)
        if target:
            return HttpResponseRedirect(target)
    etag = f'"{obj.etag}"'
    meta = http_request.META  # not request.headers, which is built from every META key on first use
    if_match = meta.get("HTTP_IF_MATCH")
    if if_match is not None and not _passes(conditional.if_match_passes, if_match, obj.etag, otherwise=False):
        raise PreconditionFailed("The object has changed (If-Match does not match).", details={"etag": obj.etag})
    if_none_match = meta.get("HTTP_IF_NONE_MATCH")
    not_modified = False
    if if_none_match is not None:
        not_modified = not _passes(conditional.if_none_match_passes, if_none_match, obj.etag, otherwise=True)
    elif (since := parse_http_date_safe(meta.get("HTTP_IF_MODIFIED_SINCE", ""))) is not None:
        not_modified = int(obj.updated_at.timestamp()) <= since
    if not_modified:
        response: HttpResponseBase = HttpResponse(status=304)
        _object_headers(response, obj, bucket_row.public)
        return response

    byte_range = _byte_range(meta.get("HTTP_RANGE"), obj.size)
    if_range = meta.get("HTTP_IF_RANGE")
    if (
        byte_range is not None
        and if_range
        and if_range.strip() != etag
        and parse_http_date_safe(if_range) != int(obj.updated_at.timestamp())
    ):
        byte_range = None  # the client's copy is stale: send the whole object
    start, length = byte_range if byte_range else (0, obj.size)
    status = 206 if byte_range else 200
    if head:
        response = HttpResponse(status=status, content_type=obj.content_type)
    elif length <= services.SMALL_OBJECT_BYTES:  # one read; the REST hand-off sends it in one write
        response = HttpResponse(
            services.read_object_bytes(obj, start=start, length=length), status=status, content_type=obj.content_type
        )
    else:
        response = StreamingHttpResponse(
            services.open_object(obj, start=start, length=length), status=status, content_type=obj.content_type
        )
    response["Content-Length"] = str(length)
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{obj.size}"
    response["Content-Disposition"] = disposition
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["X-Content-Type-Options"] = "nosniff"
    _object_headers(response, obj, bucket_row.public)
    return response


def download_object(
    principal: Principal, http_request: HttpRequest, bucket: str, path: str, found: Found | None = None
) -> HttpResponseBase:
    return _serve(http_request, principal, bucket, path, head=False, found=found)


def head_object(
    principal: Principal, http_request: HttpRequest, bucket: str, path: str, found: Found | None = None
) -> HttpResponseBase:
    return _serve(http_request, principal, bucket, path, head=True, found=found)


def upload_raw(
    principal: Principal, http_request: HttpRequest, bucket: str, path: str, found: Found | None = None
) -> HttpResponseBase:
    """PUT: the raw body is the object."""
    body, length = raw_body(http_request)
    raw_metadata = http_request.META.get("HTTP_X_BAAS_METADATA")
    if raw_metadata is not None:
        raw_metadata = raw_metadata.encode("latin-1").decode("utf-8", "replace")
    return _uploaded(
        principal,
        http_request,
        bucket,
        path,
        body=body,
        length=length,
        content_type=http_request.META.get("CONTENT_TYPE") or None,
        metadata=parse_metadata(raw_metadata),
        found=found,
    )


def refuse_signed_write(http_request: HttpRequest) -> None:
    """A signed URL grants GET (and its HEAD) only; it never lends its authority to a write."""
    if http_request.method not in ("GET", "HEAD") and "signature" in query_of(http_request):
        raise SignedUrlInvalid("Signed URLs are valid for GET only.", details={"reason": "method"})


def _uploaded(principal: Principal, http_request: HttpRequest, bucket: str, path: str, **body: Any) -> HttpResponse:
    meta = http_request.META
    metadata, _created = services.upload_object(
        principal=principal,
        bucket=bucket,
        path=path,
        if_none_match=meta.get("HTTP_IF_NONE_MATCH"),
        if_match=meta.get("HTTP_IF_MATCH"),
        **body,
    )
    # What DRF's Response(metadata, status=201) renders, built directly.
    response = HttpResponse(_JSON.render(metadata), status=201, content_type="application/json")
    response["ETag"] = f'"{metadata["etag"]}"'
    return response


_NO_QUERY = QueryDict()


def query_of(http_request: HttpRequest) -> QueryDict:
    """The query parameters; without a query string, an empty QueryDict that is not built anew."""
    return http_request.GET if http_request.META.get("QUERY_STRING") else _NO_QUERY


def _declared_length(http_request: Any) -> int | None:
    raw = http_request.META.get("CONTENT_LENGTH") or ""
    return int(raw) if raw.isdigit() else None


class ObjectView(LeanObjectDispatch, APIView):
    content_negotiation_class = AnyAccept
    parser_classes: list = []
    # Requests with bearer credentials, or none at all, skip DRF's dispatch (storage/api/lean.py).
    lean_methods = {"GET": download_object, "HEAD": head_object, "PUT": upload_raw}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.lean_check(request._request)

    @classmethod
    def lean_check(cls, request: HttpRequest) -> None:
        refuse_signed_write(request)

    @extend_schema(
        operation_id="objects_download",
        summary="Download an object (streamed; Range, If-None-Match, signed URLs)",
        parameters=[
            OpenApiParameter("download", bool, description="1: Content-Disposition attachment"),
            OpenApiParameter("expires", int, description="signed URL expiry (unix seconds)"),
            OpenApiParameter("signature", str, description="signed URL signature"),
        ],
        responses={
            # The object's own Content-Type, whatever it is.
            (200, "*/*"): OpenApiResponse(OpenApiTypes.BINARY),
            (206, "*/*"): OpenApiResponse(OpenApiTypes.BINARY),
            304: None,
        },
        tags=TAGS,
    )
    def get(self, request: Request, bucket: str, path: str) -> HttpResponseBase:
        return download_object(principal_of(request), request._request, bucket, path)

    @extend_schema(exclude=True)
    def head(self, request: Request, bucket: str, path: str) -> HttpResponseBase:
        return head_object(principal_of(request), request._request, bucket, path)

    @extend_schema(
        operation_id="objects_upload",
        summary="Upload an object from the raw body (Content-Type, optional X-Baas-Metadata JSON)",
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={201: schemas.OBJECT},
        tags=TAGS,
    )
    def put(self, request: Request, bucket: str, path: str) -> HttpResponseBase:
        return upload_raw(principal_of(request), request._request, bucket, path)

    @extend_schema(
        operation_id="objects_upload_form",
        summary="Upload an object as multipart/form-data (fields: metadata (JSON) before file)",
        request={"multipart/form-data": schemas.MULTIPART_UPLOAD},
        responses={201: schemas.OBJECT},
        tags=TAGS,
    )
    def post(self, request: Request, bucket: str, path: str) -> HttpResponseBase:
        http_request = request._request
        if hasattr(http_request, "_files"):
            # Something (Django's CSRF check of a console session) parsed the form already; the
            # file then waits in a temporary file, still not in memory.
            upload = http_request.FILES.get("file") or next(iter(http_request.FILES.values()), None)
            if upload is None:
                raise InvalidRequest("The multipart body has no file part.", code=KernelCode.MISSING_BODY)
            return _uploaded(
                principal_of(request),
                http_request,
                bucket,
                path,
                body=upload,
                length=upload.size,
                content_type=upload.content_type,
                metadata=parse_metadata(http_request.POST.get("metadata")),
            )
        # Bucket, size and rules are decided from the URL and headers, before the body is read.
        services.check_upload_before_body(
            principal=principal_of(request), bucket=bucket, path=path, body_length=_declared_length(http_request)
        )
        part = multipart_file(http_request)
        return _uploaded(
            principal_of(request),
            http_request,
            bucket,
            path,
            body=part.stream,
            length=None,
            content_type=part.content_type,
            metadata=parse_metadata(part.fields.get("metadata")),
        )

    @extend_schema(operation_id="objects_delete", summary="Delete an object", responses={204: None}, tags=TAGS)
    def delete(self, request: Request, bucket: str, path: str) -> Response:
        services.delete_object(
            principal=principal_of(request),
            bucket=bucket,
            path=path,
            if_match=request._request.headers.get("If-Match"),
        )
        return Response(status=204)


SIGN_FIELDS = ("expires_in",)


class SignView(APIView):
    @extend_schema(
        operation_id="objects_sign",
        summary="A time-limited GET URL for an object, usable without other credentials",
        request=json_body(schemas.SIGN_REQUEST),
        responses={200: schemas.SIGNED_URL},
        tags=TAGS,
    )
    def post(self, request: Request, bucket: str, path: str) -> Response:
        data = require_object(request.data, what='The body (such as {"expires_in": 3600})')
        refuse_unknown_fields(data, SIGN_FIELDS)
        url = services.sign_url(
            principal=principal_of(request),
            bucket=bucket,
            path=path,
            expires_in=data.get("expires_in"),
            base_url=request.build_absolute_uri("/"),
        )
        return Response({"url": url})


__all__ = ["BucketDetailView", "BucketListView", "ObjectListView", "ObjectView", "SignView"]
