"""Local disk: Django's FileSystemStorage (the embedded default, under the data folder).

Small objects (whole in memory: `write_bytes`, `read_bytes`) skip the storage's per-file
machinery — name validation and availability checks, `File` chunking, a lock, a buffered file
object — for one `open`/`write`/`close` (or `pread`) on the same path, with the same flags and
permissions as FileSystemStorage. Keys are fresh and never reused, so there is nothing to check
about the name but that the file does not exist yet (O_EXCL).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.utils._os import safe_makedirs

from storage.backends.base import READ_CHUNK, Readable

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


class LocalBlobStore:
    kind = "local"

    def __init__(self, storage: FileSystemStorage) -> None:
        self.storage = storage

    def write(self, key: str, reader: Readable, *, content_type: str) -> None:
        # FileSystemStorage pulls 64 KiB chunks from the File and writes them as they come.
        saved = self.storage.save(key, File(reader, name=key))
        if saved != key:  # keys are unique; a different name would mean a collision
            self.storage.delete(saved)
            raise RuntimeError(f"object key {key!r} already existed")

    def write_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store a small object held in memory (as `write`, without streaming)."""
        path = self._path(key)
        try:
            fd = os.open(path, _NEW_FILE, 0o666)
        except FileNotFoundError:  # the key's folder (objects/<bucket>/<2 hex>) is new
            self._make_folder(os.path.dirname(path))
            fd = os.open(path, _NEW_FILE, 0o666)
        except FileExistsError:
            raise RuntimeError(f"object key {key!r} already existed") from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        if self.storage.file_permissions_mode is not None:
            os.chmod(path, self.storage.file_permissions_mode)

    def _make_folder(self, folder: str) -> None:
        mode = self.storage.directory_permissions_mode
        if mode is None:
            os.makedirs(folder, exist_ok=True)
        else:  # as FileSystemStorage does: the mode on every new level
            safe_makedirs(folder, mode, exist_ok=True)

    def _path(self, key: str) -> str:
        # The storage's own path() runs safe_join (abspath, normcase, a containment check) on every
        # call; keys are ours (`objects/<bucket>/<2 hex>/<hex>`, bucket names never `..`: see
        # storage.paths), so joining them to the root cannot leave it.
        return os.path.join(self.storage.location, key)

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

    def read_bytes(self, key: str, *, start: int, length: int) -> bytes:
        """`length` bytes from `start` of a small object, in one read."""
        fd = os.open(self._path(key), _READ)
        try:
            pieces = []
            while length > 0:
                piece = os.pread(fd, length, start)
                if not piece:
                    break
                pieces.append(piece)
                start += len(piece)
                length -= len(piece)
            return pieces[0] if len(pieces) == 1 else b"".join(pieces)
        finally:
            os.close(fd)

    def delete(self, key: str) -> None:
        self.storage.delete(key)

    def exists(self, key: str) -> bool:
        return self.storage.exists(key)

    def presigned_url(self, key: str, *, expires_in: int, content_type: str, disposition: str) -> None:
        return None
