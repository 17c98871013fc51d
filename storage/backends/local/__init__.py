"""Local disk: Django's FileSystemStorage (the embedded default, under the data folder)."""

from __future__ import annotations

from collections.abc import Iterator

from django.core.files import File
from django.core.files.storage import Storage

from storage.backends.base import READ_CHUNK, Readable


class LocalBlobStore:
    kind = "local"

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def write(self, key: str, reader: Readable, *, content_type: str) -> None:
        # FileSystemStorage pulls 64 KiB chunks from the File and writes them as they come.
        saved = self.storage.save(key, File(reader, name=key))
        if saved != key:  # keys are unique; a different name would mean a collision
            self.storage.delete(saved)
            raise RuntimeError(f"object key {key!r} already existed")

    def read(self, key: str, *, start: int, length: int) -> Iterator[bytes]:
        with self.storage.open(key, "rb") as handle:
            handle.seek(start)
            remaining = length
            while remaining > 0:
                chunk = handle.read(min(READ_CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk

    def delete(self, key: str) -> None:
        self.storage.delete(key)

    def exists(self, key: str) -> bool:
        return self.storage.exists(key)

    def presigned_url(self, key: str, *, expires_in: int, content_type: str, disposition: str) -> None:
        return None
