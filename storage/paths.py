"""Validation of bucket names and object paths: the only gate between a URL and a backend key.

Object paths never become backend keys (keys are random), so a bad path cannot escape the
bucket's folder anyway; refusing them still keeps listings, Content-Disposition names and client
mirrors of the tree sane.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from baas.errors import field_error
from storage.errors import InvalidPath, StorageDetail

MAX_PATH_BYTES = 1024
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
# C0 controls, DEL and C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_bucket_name(name: str) -> str:
    """The name itself when it is acceptable; else 400 `validation_error`, `details.name` holding
    the field error `invalid_bucket_name`."""
    if not isinstance(name, str) or not BUCKET_NAME.match(name) or ".." in name:
        raise field_error(
            "name",
            StorageDetail.INVALID_BUCKET_NAME,
            "2 to 63 characters: lowercase letters, digits, '.', '_' and '-', starting with a letter or digit.",
        )
    return name


def check_path(path: str) -> str:
    """The path itself when it is acceptable; InvalidPath (400) saying why otherwise.

    The path arrives percent-decoded once (by the WSGI server); a segment that decodes again to
    `.` or `..` (`%2e%2e`, `%252e`…) is refused as well, so no layer that decodes once more can
    be tricked into a traversal.
    """

    def refuse(reason: str, message: str) -> InvalidPath:
        return InvalidPath(message, details={"reason": reason})

    if not isinstance(path, str) or path == "":
        raise refuse("empty", "The object path is empty.")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise refuse("too_long", f"The object path is longer than {MAX_PATH_BYTES} bytes.")
    if "\x00" in path:
        raise refuse("nul", "The object path contains a NUL character.")
    if _CONTROL.search(path):
        raise refuse("control_character", "The object path contains a control character.")
    if "\\" in path:
        raise refuse("backslash", "The object path contains a backslash; use '/' between segments.")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise refuse("encoding", "The object path is not valid UTF-8.") from None
    for segment in path.split("/"):
        if segment == "":
            raise refuse("empty_segment", "The object path has an empty segment (leading, trailing or '//').")
        decoded = segment
        for _ in range(3):  # %2e → ., %252e → %2e → .
            decoded = unquote(decoded)
        if decoded in (".", "..") or "/" in decoded or "\\" in decoded:
            raise refuse("traversal", "The object path contains '.' or '..' segments (perhaps encoded).")
        if "\x00" in decoded or _CONTROL.search(decoded):
            raise refuse("control_character", "The object path contains an encoded control character.")
    return path


def check_prefix(prefix: str) -> str:
    """A listing prefix: like a path, but may be empty or end with '/'."""
    if prefix == "":
        return prefix
    check_path(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix
