"""The storage workloads of bench/request_cost.py: 4 KiB object uploads and downloads.

    .venv/bin/python bench/request_cost.py --calls upload,download [--credential user] --instructions

`upload` PUTs a 4 KiB body at a new path each time (a create: journal row, file, metadata row and
event), `download` GETs one of SEEDED_OBJECTS objects. The bucket's rules admit any signed-in
user, so with `--credential user` every request also evaluates a rule; with the default service
key the rules are bypassed. Files go to a scratch data folder (local disk), as in the embedded
default.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from typing import Any

STORAGE_CALLS = ("upload", "download")
SEEDED_OBJECTS = 200
OBJECT_BYTES = 4096
BUCKET = "cost"
_PAYLOAD = bytes(range(256)) * (OBJECT_BYTES // 256)
# New paths for every upload, also across the warm-up and the measured batch.
_uploads = itertools.count()

Environ = Callable[..., dict[str, Any]]


def seed_objects(call: Callable[[dict[str, Any]], int], environ: Environ, key: str) -> None:
    """The bucket and its SEEDED_OBJECTS objects, through the API (with the service key)."""
    bucket = {"name": BUCKET, "rules": {"read": "auth != null", "create": "auth != null", "update": "auth != null"}}
    assert call(environ("POST", "/v1/storage/buckets", key, json.dumps(bucket).encode())) == 201
    for i in range(SEEDED_OBJECTS):
        assert call(upload_environ(environ, key, f"seed/{i:04d}")) == 201


def upload_environ(environ: Environ, key: str, path: str) -> dict[str, Any]:
    env = environ("PUT", f"/v1/storage/objects/{BUCKET}/{path}", key, _PAYLOAD)
    env["CONTENT_TYPE"] = "application/octet-stream"
    return env


def storage_requests(call_name: str, environ: Environ, key: str, count: int) -> list[dict[str, Any]]:
    if call_name == "upload":
        return [upload_environ(environ, key, f"up/{os.getpid()}-{next(_uploads)}") for _ in range(count)]
    return [environ("GET", f"/v1/storage/objects/{BUCKET}/seed/{i % SEEDED_OBJECTS:04d}", key) for i in range(count)]
