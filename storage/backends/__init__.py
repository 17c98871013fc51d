"""The object backend in use: Django's `storages["default"]`, wrapped by its kind's adapter.

One folder per kind (`local/`, `s3/`) with the same shape; adding a kind means copying a sibling
and naming its Django storage class here.
"""

from __future__ import annotations

from django.core.files.storage import FileSystemStorage, storages

from storage.backends.base import BlobStore
from storage.backends.local import LocalBlobStore

_adapters: dict[int, BlobStore] = {}


def blob_store() -> BlobStore:
    """The adapter of the current default storage (the storage handler caches the instance; when
    settings change in tests it builds a new one, and we follow)."""
    storage = storages["default"]
    adapter = _adapters.get(id(storage))
    if adapter is None or adapter.storage is not storage:  # type: ignore[attr-defined]
        adapter = _adapter_for(storage)
        _adapters.clear()
        _adapters[id(storage)] = adapter
    return adapter


def _adapter_for(storage: object) -> BlobStore:
    if isinstance(storage, FileSystemStorage):
        return LocalBlobStore(storage)
    from storages.backends.s3 import S3Storage  # imports boto3: only when a storage is first used

    if isinstance(storage, S3Storage):
        from storage.backends.s3 import S3BlobStore

        return S3BlobStore(storage)
    raise RuntimeError(f"object storage does not support the backend {type(storage).__name__}")
