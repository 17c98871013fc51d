"""What object storage needs from a backend, whatever it is: one class per kind, same shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

READ_CHUNK = 512 * 1024


class Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


class BlobStore(Protocol):
    """Bytes under keys that are written once, read in ranges and deleted.

    `write` pulls from `reader` until it returns b"" and must not hold more than a bounded
    amount of it in memory; if it raises, the caller deletes whatever part of `key` was written.
    `write_bytes` and `read_bytes` do the same for a small object held in memory whole.
    """

    kind: str

    def write(self, key: str, reader: Readable, *, content_type: str) -> None: ...

    def write_bytes(self, key: str, data: bytes, *, content_type: str) -> None: ...

    def read(self, key: str, *, start: int, length: int) -> Iterator[bytes]: ...

    def read_bytes(self, key: str, *, start: int, length: int) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def presigned_url(self, key: str, *, expires_in: int, content_type: str, disposition: str) -> str | None: ...
