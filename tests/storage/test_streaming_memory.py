"""Uploads and downloads stream: memory stays flat whatever the object's size."""

from __future__ import annotations

import hashlib
import tracemalloc

from baas.principals import service_principal
from storage import services
from storage.selectors import access_object

SERVICE = service_principal(key_id="tests", name="tests")
SIZE = 48 * 1024 * 1024


class GeneratedBody:
    """48 MiB of bytes made on the fly, never held at once."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        size = min(self.left, 65536 if size is None or size < 0 else size)
        self.left -= size
        data = bytes([self.left % 251]) * size
        self.sha256.update(data)
        return data


def test_a_large_local_upload_and_download_keep_python_memory_flat(settings, tmp_path, make_bucket):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    make_bucket("big")
    body = GeneratedBody(SIZE)
    tracemalloc.start()
    try:
        meta, _ = services.upload_object(
            principal=SERVICE, bucket="big", path="big.bin", body=body, length=SIZE, content_type=None
        )
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        _, obj = access_object(principal=SERVICE, bucket="big", path="big.bin")
        digest = hashlib.sha256()
        for chunk in services.open_object(obj):
            digest.update(chunk)
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert meta["size"] == SIZE
    assert meta["etag"] == body.sha256.hexdigest() == digest.hexdigest()
    assert upload_peak < 4 * 1024 * 1024, upload_peak
    assert download_peak < 4 * 1024 * 1024, download_peak
