"""Request input held to the value policy of `baas.jsonvalues`: DRF's JSON parser (the setting
`DEFAULT_PARSER_CLASSES` names it; views with their own parser lists use it too) and the
middleware that keeps NUL out of paths, query strings and headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from rest_framework.parsers import JSONParser, get_encoding

from baas import errors, jsonvalues


class StrictJSONParser(JSONParser):
    """JSON bodies under the value policy: a violation is a 400 naming the bad value's pointer."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        encoding = get_encoding(parser_context or {})
        return jsonvalues.loads(stream.read() if stream is not None else b"", encoding=encoding)


class RefuseNulMiddleware:
    """A NUL character in the path, the query string or a header value is a 400 before any view
    (`invalid_path` for the path, as storage's path checks answer; `invalid_request` otherwise).

    PostgreSQL cannot hold NUL in text, so such a value would fail inside a query (a 500) wherever
    it is looked up or stored — ids and names in paths, `?search=`, `?prefix=`, `Content-Type` of uploads —
    while SQLite stores it; refusing it once here keeps both databases alike. (Query strings and
    headers cannot carry lone surrogates: Django decodes them with replacement characters.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = _nul_in(request)
        if where == "path":  # as storage's own path checks answer (docs/storage.md, "Paths")
            message = "The path holds a NUL character (\\u0000), which the API does not accept."
            return errors.error_response(
                errors.InvalidRequest(message, code="invalid_path", details={"reason": message})
            )
        if where is not None:
            message = f"The {where} holds a NUL character (\\u0000), which the API does not accept."
            return errors.error_response(
                errors.InvalidRequest(message, details={where: [{"code": "nul_character", "message": message}]})
            )
        return self.get_response(request)


def _nul_in(request: HttpRequest) -> str | None:
    if "\x00" in request.path_info:
        return "path"
    query = request.META.get("QUERY_STRING", "")
    if "%00" in query or "\x00" in query:
        return "query"
    for name, value in request.META.items():
        if (name.startswith("HTTP_") or name == "CONTENT_TYPE") and isinstance(value, str) and "\x00" in value:
            return "headers"
    return None
