"""S3 and S3-compatible servers: django-storages' S3Storage, with boto3 for ranged reads.

Writes go through `storage.save()` with a bounded multipart transfer configuration (the body is
a non-seekable stream, which s3transfer reads part by part: memory stays at about
`MAX_IN_MEMORY_PARTS * PART_SIZE`). Reads use `get_object` with a `Range` and stream the body:
S3Storage's own `open()` would first download the whole object into a spooled temporary file.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from boto3.s3.transfer import TransferConfig
from django.core.files import File

from storage.backends.base import READ_CHUNK, Readable

PART_SIZE = 8 * 1024 * 1024
MAX_IN_MEMORY_PARTS = 4


def bounded_transfer_config() -> TransferConfig:
    config = TransferConfig(
        multipart_threshold=PART_SIZE,
        multipart_chunksize=PART_SIZE,
        max_concurrency=MAX_IN_MEMORY_PARTS,
    )
    # Not a constructor argument of boto3's TransferConfig, but honoured by s3transfer: how many
    # parts of a non-seekable stream may wait in memory for their upload.
    config.max_in_memory_upload_chunks = MAX_IN_MEMORY_PARTS
    return config


class S3BlobStore:
    kind = "s3"

    def __init__(self, storage: Any) -> None:
        self.storage = storage
        if not getattr(storage, "_baas_bounded", False):
            storage.transfer_config = bounded_transfer_config()
            storage._baas_bounded = True

    def _full_key(self, key: str) -> str:
        location = (self.storage.location or "").strip("/")
        return f"{location}/{key}" if location else key

    @property
    def _client(self) -> Any:
        return self.storage.connection.meta.client

    def write(self, key: str, reader: Readable, *, content_type: str) -> None:
        upload = File(reader, name=key)
        upload.content_type = content_type  # type: ignore[attr-defined]
        self.storage.save(key, upload)

    def write_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        # The same upload as `write` (one PutObject below the multipart threshold).
        self.write(key, io.BytesIO(data), content_type=content_type)

    def read_bytes(self, key: str, *, start: int, length: int) -> bytes:
        return b"".join(self.read(key, start=start, length=length))

    def read(self, key: str, *, start: int, length: int) -> Iterator[bytes]:
        if length <= 0:
            return
        answer = self._client.get_object(
            Bucket=self.storage.bucket_name,
            Key=self._full_key(key),
            Range=f"bytes={start}-{start + length - 1}",
        )
        body = answer["Body"]
        try:
            yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()

    def delete(self, key: str) -> None:
        self.storage.delete(key)

    def exists(self, key: str) -> bool:
        return self.storage.exists(key)

    def presigned_url(self, key: str, *, expires_in: int, content_type: str, disposition: str) -> str:
        return self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.storage.bucket_name,
                "Key": self._full_key(key),
                "ResponseContentType": content_type,
                "ResponseContentDisposition": disposition,
            },
            ExpiresIn=expires_in,
        )
