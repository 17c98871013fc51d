"""REST views of object storage: parse, call one service, render.

Object views read the raw request (never `request.data`), so an upload streams from the socket
to the backend; downloads stream from the backend to the socket.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpResponse, HttpResponseBase, HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header, http_date, parse_http_date_safe
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas.errors import InvalidRequest
from baas.openapi import json_body
from baas.pagination import decode_cursor, page, parse_limit
from baas.permissions import ServiceOrStaff
from baas.principals import principal_of
from storage import selectors, services
from storage.api import schemas
from storage.errors import RangeNotSatisfiable
from storage.models import StoredObject
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


class AnyAccept(BaseContentNegotiation):
    """Object views answer bytes or JSON errors whatever the client's Accept header says."""

    def select_parser(self, request: Any, parsers: Any) -> None:
        return None

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


def _page_params(request: Request) -> tuple[int, str | None]:
    limit = parse_limit(request.query_params.get("limit"))
    position = decode_cursor(request.query_params.get("cursor"))
    if position is not None and (len(position) != 1 or not isinstance(position[0], str)):
        raise InvalidRequest("The cursor is not one this API handed out.")
    return limit, position[0] if position else None


# --- buckets ------------------------------------------------------------------------------------


class BucketListView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="storage_buckets_list",
        summary="List buckets",
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses={200: schemas.BUCKET_PAGE},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        limit, after = _page_params(request)
        rows = selectors.list_buckets(after=after, limit=limit)
        result = page(rows, limit, lambda bucket: [bucket.name])
        result["items"] = [selectors.bucket_dict(bucket) for bucket in result["items"]]
        return Response(result)

    @extend_schema(
        operation_id="storage_buckets_create",
        summary="Create a bucket",
        request=json_body(schemas.BUCKET_CREATE),
        responses={201: schemas.BUCKET},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        return Response(services.create_bucket(principal=principal_of(request), fields=request.data), status=201)


class BucketDetailView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="storage_bucket_get", summary="Get a bucket", responses={200: schemas.BUCKET}, tags=TAGS
    )
    def get(self, request: Request, name: str) -> Response:
        return Response(selectors.bucket_dict(selectors.get_bucket(name)))

    @extend_schema(
        operation_id="storage_bucket_update",
        summary="Change a bucket",
        request=json_body(schemas.BUCKET_CHANGE),
        responses={200: schemas.BUCKET},
        tags=TAGS,
    )
    def patch(self, request: Request, name: str) -> Response:
        return Response(services.update_bucket(principal=principal_of(request), name=name, changes=request.data))

    @extend_schema(
        operation_id="storage_bucket_delete", summary="Delete an empty bucket", responses={204: None}, tags=TAGS
    )
    def delete(self, request: Request, name: str) -> Response:
        services.delete_bucket(principal=principal_of(request), name=name)
        return Response(status=204)


# --- objects ------------------------------------------------------------------------------------


class ObjectListView(APIView):
    @extend_schema(
        operation_id="storage_objects_list",
        summary="List objects by prefix (only those the caller may read)",
        parameters=[
            OpenApiParameter("prefix", str),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
        ],
        responses={200: schemas.OBJECT_PAGE},
        tags=TAGS,
    )
    def get(self, request: Request, bucket: str) -> Response:
        limit, after = _page_params(request)
        rows = selectors.list_objects(
            principal=principal_of(request),
            bucket=bucket,
            prefix=request.query_params.get("prefix", ""),
            after=after,
            limit=limit,
        )
        return Response(page(rows, limit, lambda item: [item["path"]]))


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) of a satisfiable single range; None to serve the whole object.

    A header that is not a byte range is ignored (RFC 9110); several ranges and ranges outside
    the object are refused with 416.
    """
    if not header:
        return None
    header = header.strip()
    if not header.startswith("bytes="):
        return None
    if "," in header:
        raise _unsatisfiable(size, "Only one byte range per request is served.")
    match = _RANGE.match(header.replace(" ", ""))
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = int(last) if last else size - 1
        if last and end < start:
            return None  # syntactically invalid: ignored
        if start >= size:
            raise _unsatisfiable(size, "The range starts beyond the end of the object.")
        end = min(end, size - 1)
    else:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size, "The range selects no bytes.")
        start, end = max(0, size - suffix), size - 1
    return start, end - start + 1


def _unsatisfiable(size: int, message: str) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(message, details={"size": size}, headers={"Content-Range": f"bytes */{size}"})


def _none_match(header: str, etag: str) -> bool:
    tags = [item.strip() for item in header.split(",")]
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


def _disposition(obj: StoredObject, download: bool) -> str:
    filename = obj.path.rsplit("/", 1)[-1]
    attachment = download or obj.content_type in ACTIVE_TYPES
    return content_disposition_header(attachment, filename) or ("attachment" if attachment else "inline")


def _object_headers(response: HttpResponseBase, obj: StoredObject, public: bool) -> None:
    response["ETag"] = f'"{obj.etag}"'
    response["Last-Modified"] = http_date(obj.updated_at.timestamp())
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "public, no-cache" if public else "private, no-cache"


def _serve(request: Request, bucket: str, path: str, *, head: bool) -> HttpResponseBase:
    query = request.query_params
    signed = "signature" in query or "expires" in query
    bucket_row, obj = selectors.access_object(
        principal=principal_of(request),
        bucket=bucket,
        path=path,
        expires=query.get("expires") if signed else None,
        signature=query.get("signature") if signed else None,
    )
    download = query.get("download", "") not in ("", "0", "false")
    disposition = _disposition(obj, download)
    if signed and not head:
        target = services.presigned_redirect(obj, expires_at=int(query["expires"]), disposition=disposition)
        if target:
            return HttpResponseRedirect(target)
    etag = f'"{obj.etag}"'
    headers = request._request.headers
    if_none_match = headers.get("If-None-Match")
    not_modified = False
    if if_none_match is not None:
        not_modified = _none_match(if_none_match, etag)
    elif (since := parse_http_date_safe(headers.get("If-Modified-Since", ""))) is not None:
        not_modified = int(obj.updated_at.timestamp()) <= since
    if not_modified:
        response: HttpResponseBase = HttpResponse(status=304)
        _object_headers(response, obj, bucket_row.public)
        return response

    byte_range = _byte_range(headers.get("Range"), obj.size)
    if_range = headers.get("If-Range")
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


class ObjectView(APIView):
    content_negotiation_class = AnyAccept
    parser_classes: list = []

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # A signed URL grants GET (and its HEAD) only; it never lends its authority to a write.
        if request.method not in ("GET", "HEAD") and "signature" in request.query_params:
            from storage.errors import SignedUrlInvalid

            raise SignedUrlInvalid("Signed URLs are valid for GET only.", details={"reason": "method"})

    @extend_schema(
        operation_id="storage_object_download",
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
        return _serve(request, bucket, path, head=False)

    @extend_schema(exclude=True)
    def head(self, request: Request, bucket: str, path: str) -> HttpResponseBase:
        return _serve(request, bucket, path, head=True)

    @extend_schema(
        operation_id="storage_object_upload",
        summary="Upload an object from the raw body (Content-Type, optional X-Baas-Metadata JSON)",
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={201: schemas.OBJECT},
        tags=TAGS,
    )
    def put(self, request: Request, bucket: str, path: str) -> Response:
        http_request = request._request
        body, length = raw_body(http_request)
        raw_metadata = http_request.META.get("HTTP_X_BAAS_METADATA")
        if raw_metadata is not None:
            raw_metadata = raw_metadata.encode("latin-1").decode("utf-8", "replace")
        return self._upload(
            request,
            bucket,
            path,
            body=body,
            length=length,
            content_type=http_request.META.get("CONTENT_TYPE") or None,
            metadata=parse_metadata(raw_metadata),
        )

    @extend_schema(
        operation_id="storage_object_upload_multipart",
        summary="Upload an object as multipart/form-data (fields: metadata (JSON) before file)",
        request={"multipart/form-data": schemas.MULTIPART_UPLOAD},
        responses={201: schemas.OBJECT},
        tags=TAGS,
    )
    def post(self, request: Request, bucket: str, path: str) -> Response:
        http_request = request._request
        if hasattr(http_request, "_files"):
            # Something (Django's CSRF check of a console session) parsed the form already; the
            # file then waits in a temporary file, still not in memory.
            upload = http_request.FILES.get("file") or next(iter(http_request.FILES.values()), None)
            if upload is None:
                raise InvalidRequest("The multipart body has no file part.", code="missing_body")
            return self._upload(
                request,
                bucket,
                path,
                body=upload,
                length=upload.size,
                content_type=upload.content_type,
                metadata=parse_metadata(http_request.POST.get("metadata")),
            )
        part = multipart_file(http_request)
        return self._upload(
            request,
            bucket,
            path,
            body=part.stream,
            length=None,
            content_type=part.content_type,
            metadata=parse_metadata(part.fields.get("metadata")),
        )

    def _upload(self, request: Request, bucket: str, path: str, **body: Any) -> Response:
        headers = request._request.headers
        metadata, _created = services.upload_object(
            principal=principal_of(request),
            bucket=bucket,
            path=path,
            if_none_match=headers.get("If-None-Match"),
            if_match=headers.get("If-Match"),
            **body,
        )
        response = Response(metadata, status=201)
        response["ETag"] = f'"{metadata["etag"]}"'
        return response

    @extend_schema(operation_id="storage_object_delete", summary="Delete an object", responses={204: None}, tags=TAGS)
    def delete(self, request: Request, bucket: str, path: str) -> Response:
        services.delete_object(
            principal=principal_of(request),
            bucket=bucket,
            path=path,
            if_match=request._request.headers.get("If-Match"),
        )
        return Response(status=204)


class SignView(APIView):
    @extend_schema(
        operation_id="storage_object_sign",
        summary="A time-limited GET URL for an object, usable without other credentials",
        request=json_body(schemas.SIGN_REQUEST),
        responses={200: schemas.SIGNED_URL},
        tags=TAGS,
    )
    def post(self, request: Request, bucket: str, path: str) -> Response:
        data = request.data if isinstance(request.data, dict) else None
        if data is None:
            raise InvalidRequest('The body must be a JSON object such as {"expires_in": 3600}.')
        url = services.sign_url(
            principal=principal_of(request),
            bucket=bucket,
            path=path,
            expires_in=data.get("expires_in"),
            base_url=request.build_absolute_uri("/"),
        )
        return Response({"url": url})


__all__ = ["BucketDetailView", "BucketListView", "ObjectListView", "ObjectView", "SignView"]
