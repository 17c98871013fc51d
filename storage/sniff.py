"""Content types: recognise well-known formats from their first bytes, and check declared types.

A small signature table rather than libmagic: it covers what apps upload most (images, PDF,
audio/video containers, archives) and needs no system library. What it cannot recognise it does
not contradict.
"""

from __future__ import annotations

import re

SNIFF_BYTES = 512
OCTET_STREAM = "application/octet-stream"

_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")

_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "application/x-pdf": "application/pdf",
    "application/x-zip-compressed": "application/zip",
    "application/x-gzip": "application/gzip",
    "audio/mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "image/x-icon": "image/vnd.microsoft.icon",
}

# Formats whose bytes are other formats' containers: zip holds docx/xlsx/epub/jar/apk…, gzip
# holds tarballs. Detecting them says little about the declared application/* type.
_CONTAINERS = {"application/zip", "application/gzip"}


def _starts(prefix: bytes, media_type: str):  # type: ignore[no-untyped-def]
    return lambda head: media_type if head.startswith(prefix) else None


def _riff(kind: bytes, media_type: str):  # type: ignore[no-untyped-def]
    return lambda head: media_type if head[:4] == b"RIFF" and head[8:12] == kind else None


def _ftyp(head: bytes) -> str | None:
    if head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in (b"avif", b"avis"):
        return "image/avif"
    if brand in (b"heic", b"heix", b"mif1", b"msf1"):
        return "image/heic"
    if brand.startswith(b"qt"):
        return "video/quicktime"
    if brand.startswith(b"M4A"):
        return "audio/mp4"
    return "video/mp4"


_SIGNATURES = (
    _starts(b"\x89PNG\r\n\x1a\n", "image/png"),
    _starts(b"\xff\xd8\xff", "image/jpeg"),
    _starts(b"GIF87a", "image/gif"),
    _starts(b"GIF89a", "image/gif"),
    _riff(b"WEBP", "image/webp"),
    _riff(b"WAVE", "audio/wav"),
    _riff(b"AVI ", "video/x-msvideo"),
    _starts(b"BM", "image/bmp"),
    _starts(b"II*\x00", "image/tiff"),
    _starts(b"MM\x00*", "image/tiff"),
    _starts(b"\x00\x00\x01\x00", "image/vnd.microsoft.icon"),
    _starts(b"%PDF-", "application/pdf"),
    _starts(b"PK\x03\x04", "application/zip"),
    _starts(b"PK\x05\x06", "application/zip"),
    _starts(b"\x1f\x8b", "application/gzip"),
    _starts(b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    _starts(b"Rar!\x1a\x07", "application/vnd.rar"),
    _starts(b"ID3", "audio/mpeg"),
    _starts(b"OggS", "audio/ogg"),
    _starts(b"fLaC", "audio/flac"),
    _starts(b"\x1aE\xdf\xa3", "video/webm"),
    _starts(b"\x7fELF", "application/x-executable"),
    _starts(b"MZ", "application/vnd.microsoft.portable-executable"),
    _ftyp,
)

# Declared types whose bytes the table knows: the bytes must then carry that signature.
RECOGNISED = {
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/tiff",
    "application/pdf",
    "application/zip",
    "application/gzip",
    "audio/flac",
    "image/avif",
}


def normalize(content_type: str | None) -> str | None:
    """`Image/PNG; charset=x` → `image/png`; None for an absent or malformed type."""
    if not content_type:
        return None
    base = content_type.split(";", 1)[0].strip().lower()
    if not _MEDIA_TYPE.match(base):
        return None
    return _ALIASES.get(base, base)


def sniff(head: bytes) -> str | None:
    """The type the first bytes reveal, or None when they match nothing in the table."""
    for signature in _SIGNATURES:
        found = signature(head)
        if found:
            return found
    return None


def resolve(declared: str | None, head: bytes) -> tuple[str, str | None]:
    """The content type to store, and the reason it contradicts the bytes (None when it does not).

    - nothing or application/octet-stream declared: the sniffed type, else octet-stream;
    - a declared type the table recognises must match the bytes;
    - bytes the table recognises must match the declared type, except containers (zip, gzip)
      under any application/* type (docx, epub, tar.gz…).
    """
    detected = sniff(head)
    if declared is None or declared == OCTET_STREAM:
        return (detected or OCTET_STREAM), None
    if declared in RECOGNISED and detected != declared:
        return declared, f"the bytes are not {declared}" + (f" (they look like {detected})" if detected else "")
    if detected and detected != declared:
        if detected in _CONTAINERS and declared.startswith("application/"):
            return declared, None
        return declared, f"the bytes look like {detected}, not {declared}"
    return declared, None


def allowed(content_type: str, allowed_types: list[str]) -> bool:
    """Whether a type is allowed by a bucket's list (exact types and `type/*`); empty = all."""
    if not allowed_types:
        return True
    major = content_type.split("/", 1)[0]
    for pattern in allowed_types:
        if pattern in ("*", "*/*") or pattern == content_type:
            return True
        if pattern.endswith("/*") and pattern[:-2] == major:
            return True
    return False


def valid_pattern(pattern: str) -> bool:
    if pattern in ("*", "*/*"):
        return True
    if pattern.endswith("/*"):
        return bool(_MEDIA_TYPE.match(pattern[:-2] + "/x"))
    return bool(_MEDIA_TYPE.match(pattern)) and normalize(pattern) == pattern
