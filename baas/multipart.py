"""A multipart/form-data upload read with bounds: a few named fields, then one file part, streamed.

Django's own form parsing keeps up to DATA_UPLOAD_MAX_NUMBER_FIELDS fields of any name in memory
before a view can look at them. An upload endpoint needs far less: the fields its API defines,
sent before the file. So this reader walks the body part by part with Django's boundary parser
and accepts, before the file part, only the named fields, at most FIELDS_BUDGET bytes in all
(413 `too_large` beyond, 400 for any other field); the file part is handed on as a stream and
nothing after it is read. Memory per upload stays a few chunks, whatever the body holds.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.http.multipartparser import FIELD, FILE, RAW, ChunkIter, LazyStream, Parser
from django.utils.http import parse_header_parameters

from baas.errors import InvalidRequest, TooLarge, UnsupportedMediaType

PULL_CHUNK = 64 * 1024
FIELDS_BUDGET = 16 * 1024  # every field value before the file part, together
PART_OVERHEAD = 1024  # what a part's boundary and headers may add (Django reads at most 1 KiB of them)


@dataclass
class FormFile:
    stream: Any  # a file-like object: the file part's bytes, read as they arrive
    field_name: str
    content_type: str | None
    filename: str | None
    fields: dict[str, str] = field(default_factory=dict)


def most_bytes(file_limit: int) -> int:
    """The largest body an upload of at most `file_limit` bytes can need (for Content-Length checks)."""
    return file_limit + FIELDS_BUDGET + 8 * PART_OVERHEAD


def file_with_fields(
    http_request: Any, *, fields: Collection[str], file_fields: Collection[str] | None = None
) -> FormFile:
    """The first file part of the body, with the `fields` sent before it."""
    ctype, options = parse_header_parameters(http_request.META.get("CONTENT_TYPE", ""))
    if ctype != "multipart/form-data":
        raise UnsupportedMediaType("Uploads here are multipart/form-data.")
    boundary = options.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise InvalidRequest("The multipart body has no valid boundary.")
    stream = LazyStream(ChunkIter(http_request, PULL_CHUNK))
    found: dict[str, str] = {}
    used = 0
    try:
        for item_type, meta, part in Parser(stream, boundary.encode("latin-1")):
            disposition = meta.get("content-disposition", ("", {}))[1]
            name = _text(disposition.get("name", ""))
            if item_type == FILE:
                if file_fields is not None and name not in file_fields:
                    raise _unexpected(name, fields, file_fields)
                part_type = (meta.get("content-type", ("", {}))[0] or "").strip() or None
                filename = disposition.get("filename")
                return FormFile(
                    stream=part,
                    field_name=name,
                    content_type=part_type,
                    filename=_text(filename) if filename is not None else None,
                    fields=found,
                )
            if item_type == FIELD:
                if name not in fields:
                    raise _unexpected(name, fields, file_fields)
                if name in found:
                    raise InvalidRequest(f"The form field {name!r} is sent twice.", details={"field": name})
            used += PART_OVERHEAD
            allowed = max(FIELDS_BUDGET - used, 0)
            value = part.read(allowed + 1)  # never more than what is left of the budget
            used += len(value)
            if used > FIELDS_BUDGET:
                raise TooLarge(
                    f"The form fields before the file may take at most {FIELDS_BUDGET} bytes.",
                    details={"limit": FIELDS_BUDGET},
                )
            for _ in part:  # (already at its end: the read stopped short) let the parser move on
                pass
            if item_type == RAW:
                continue  # a preamble or epilogue (multipart allows them), counted but not kept
            if item_type == FIELD:
                try:
                    found[name] = value.decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidRequest(f"The form field {name!r} is not UTF-8.", details={"field": name}) from None
    except SuspiciousOperation as error:
        raise InvalidRequest(f"The multipart body is malformed: {error}") from None
    raise InvalidRequest("The multipart body has no file part.", code="missing_body")


def _unexpected(name: str, fields: Collection[str], file_fields: Collection[str] | None) -> InvalidRequest:
    accepted = sorted(fields) + sorted(file_fields or ["a file"])
    return InvalidRequest(
        f"The form field {name!r} is not accepted here; send only {', '.join(accepted)} (fields before the file).",
        details={"field": name, "accepted": accepted},
    )


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
