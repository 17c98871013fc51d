"""The OpenAPI document lists the storage endpoints, without generator warnings."""

from __future__ import annotations

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


def test_the_schema_lists_every_storage_path_without_warnings():
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    ours = [
        message
        for message in [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
        if "storage" in message.lower() or "Bucket" in message or "Object" in message or "SignView" in message
    ]
    assert ours == []
    paths = set(schema["paths"])
    assert {
        "/v1/storage/buckets",
        "/v1/storage/buckets/{name}",
        "/v1/storage/objects/{bucket}",
        "/v1/storage/objects/{bucket}/{path}",
        "/v1/storage/sign/{bucket}/{path}",
    } <= paths
    assert set(schema["paths"]["/v1/storage/objects/{bucket}/{path}"]) >= {"get", "put", "post", "delete"}
