"""Request bodies as bounded streams: metered (size limit, sha256, first bytes) and multipart.

Nothing here reads a whole body into memory: raw bodies are pulled from the WSGI input in
chunks, and a multipart body is walked part by part with Django's own boundary parser, the file
part being handed on as a stream.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from baas import jsonvalues, multipart
from baas.errors import InvalidRequest, KernelCode, TooLarge, UnsupportedMediaType, field_error
from storage.backends.base import Readable
from storage.sniff import SNIFF_BYTES

PULL_CHUNK = 64 * 1024


class MeteredReader:
    """A non-seekable file-like view of a body that counts, hashes and limits as it is read.

    `read(n)` returns exactly n bytes unless the body ends (s3transfer relies on that). As soon as
    more than `limit` bytes have come in it raises TooLarge; once the first SNIFF_BYTES are in
    (or the body ends) it calls `on_head(head)`, which may raise to refuse the content.
    """

    def __init__(
        self,
        source: Readable,
        *,
        limit: int,
        on_head: Callable[[bytes], None],
        expected_length: int | None = None,
    ) -> None:
        self._source = source
        self.limit = limit
        self.expected_length = expected_length
        self._on_head = on_head
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._head = bytearray()
        self._head_checked = False
        self._ended = False
        self.closed = False

    # The file protocol Django's File and s3transfer look at.
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    @property
    def etag(self) -> str:
        return self._sha256.hexdigest()

    @property
    def head(self) -> bytes:
        return bytes(self._head)

    def read(self, size: int | None = -1) -> bytes:
        if self._ended:
            return b""
        if size is None or size < 0:
            pieces = []
            while piece := self.read(PULL_CHUNK * 16):
                pieces.append(piece)
            return b"".join(pieces)
        pieces = []
        wanted = size
        while wanted > 0:
            piece = self._source.read(min(wanted, PULL_CHUNK))
            if not piece:
                self._end()
                break
            self._take(piece)
            pieces.append(piece)
            wanted -= len(piece)
        return b"".join(pieces)

    def _take(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.limit:
            raise TooLarge(
                f"The object is larger than the limit of {self.limit} bytes.", details={"max_size": self.limit}
            )
        self._sha256.update(piece)
        if not self._head_checked:
            self._head += piece[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self._head_checked = True
                self._on_head(bytes(self._head))

    def _end(self) -> None:
        self._ended = True
        if self.expected_length is not None and self.size < self.expected_length:
            raise InvalidRequest(
                "The body ended before Content-Length bytes arrived.",
                details={"content_length": self.expected_length, "received": self.size},
            )
        if not self._head_checked:
            self._head_checked = True
            self._on_head(bytes(self._head))


class BoundedBody:
    """The declared `length` bytes of a request's body, read only when asked for and never past
    them, whatever stream is underneath (Django's bounded one, or a server's own input)."""

    def __init__(self, source: Readable, length: int) -> None:
        self._source = source
        self._remaining = length

    def read(self, size: int | None = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        wanted = self._remaining if size is None or size < 0 else min(size, self._remaining)
        piece = self._source.read(wanted)
        self._remaining -= len(piece)
        return piece


def raw_body(http_request: Any) -> tuple[Readable, int | None]:
    """The body of a raw upload and its declared length; InvalidRequest when there is none."""
    meta = http_request.META
    raw_length = meta.get("CONTENT_LENGTH") or ""
    if raw_length:
        try:
            length = int(raw_length)
        except ValueError:
            raise InvalidRequest("Content-Length is not a number.") from None
        if length < 0:
            raise InvalidRequest("Content-Length is not a number.")
        return BoundedBody(http_request, length), length
    chunked = "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
    stream = meta.get("wsgi.input")
    # a2wsgi (what `baas serve` runs REST on) ends its input at the end of the ASGI body but does
    # not say so with wsgi.input_terminated.
    terminated = meta.get("wsgi.input_terminated") or type(stream).__module__.startswith("a2wsgi.")
    if chunked and terminated:
        return stream, None
    raise InvalidRequest("The request has no body: send the bytes with a Content-Length.", code=KernelCode.MISSING_BODY)


@dataclass
class MultipartFile:
    stream: Readable
    content_type: str | None
    filename: str | None
    fields: dict[str, str] = field(default_factory=dict)


UPLOAD_FIELDS = ("metadata",)


def multipart_file(http_request: Any) -> MultipartFile:
    """The first file part of a multipart/form-data body, as a stream, with the fields the API
    defines (`metadata`) sent before it, a few KiB at most (baas/multipart.py). Fields after the
    file are not read."""
    try:
        form = multipart.file_with_fields(http_request, fields=UPLOAD_FIELDS)
    except UnsupportedMediaType:
        raise UnsupportedMediaType(
            "POST uploads are multipart/form-data with a 'file' part; use PUT for a raw body."
        ) from None
    return MultipartFile(stream=form.stream, content_type=form.content_type, filename=form.filename, fields=form.fields)


def parse_metadata(raw: str | None) -> dict[str, Any]:
    """User metadata sent as a JSON object (header `X-Baas-Metadata` or form field `metadata`)."""
    if raw is None or raw == "":
        return {}
    try:
        value = jsonvalues.loads(raw)
    except jsonvalues.UnacceptableValue as error:
        raise error.about("metadata", "validation_error") from None
    return check_metadata(value)


MAX_METADATA_BYTES = 8 * 1024


def check_metadata(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise field_error("metadata", "invalid_type", "metadata must be a JSON object.")
    try:
        jsonvalues.check(value)  # also values that did not come as text (functions' writes)
    except jsonvalues.UnacceptableValue as error:
        raise error.about("metadata", "validation_error") from None
    if len(json.dumps(value, separators=(",", ":"))) > MAX_METADATA_BYTES:
        raise field_error(
            "metadata", "too_large", f"metadata is larger than {MAX_METADATA_BYTES} bytes.", limit=MAX_METADATA_BYTES
        )
    return value
