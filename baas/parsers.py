"""DRF's JSON parser, held to the value policy of `baas.jsonvalues` (the setting
`DEFAULT_PARSER_CLASSES` names it; views with their own parser lists use it too)."""

from __future__ import annotations

from typing import Any

from rest_framework.parsers import JSONParser, get_encoding

from baas import jsonvalues


class StrictJSONParser(JSONParser):
    """JSON bodies under the value policy: a violation is a 400 naming the bad value's pointer."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        encoding = get_encoding(parser_context or {})
        return jsonvalues.loads(stream.read() if stream is not None else b"", encoding=encoding)
