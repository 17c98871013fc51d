"""OpenAPI schemas of the storage API's bodies (`api/representations.py` builds the answers)."""

from __future__ import annotations

from baas.openapi import (
    BOOLEAN,
    INTEGER,
    JSON_OBJECT,
    STRING,
    TIMESTAMP,
    component,
    examples,
    header,
    nullable,
    obj,
    page_of,
    request_headers,
    rules_schema,
)

RULES = rules_schema("StorageRules", "read", "create", "update", "delete")

BUCKET = component(
    "Bucket",
    obj(
        name=STRING,
        public=BOOLEAN,
        max_size=nullable(INTEGER),
        allowed_types={"type": "array", "items": STRING},
        rules=RULES,
        created_at=TIMESTAMP,
        updated_at=TIMESTAMP,
    ),
)
BUCKET_PAGE = component("BucketPage", page_of(BUCKET))

BUCKET_FIELDS = {
    "public": BOOLEAN,
    "max_size": nullable(INTEGER),
    "allowed_types": {"type": "array", "items": STRING},
    "rules": RULES,
}
# Request bodies say they take nothing else: any other field is refused (400 `unknown_field`).
CLOSED = {"additionalProperties": False}
BUCKET_CREATE = component("BucketCreate", {**obj(required=["name"], name=STRING, **BUCKET_FIELDS), **CLOSED})
BUCKET_CHANGE = component("BucketChange", {**obj(required=[], name=STRING, **BUCKET_FIELDS), **CLOSED})

OBJECT = component(
    "StoredObject",
    obj(
        bucket=STRING,
        path=STRING,
        size=INTEGER,
        content_type=STRING,
        etag={"type": "string", "description": "sha256 of the bytes, hex; the ETag header quotes it."},
        owner=nullable(STRING),
        metadata=JSON_OBJECT,
        created_at=TIMESTAMP,
        updated_at=TIMESTAMP,
    ),
)
OBJECT_PAGE = component("StoredObjectPage", page_of(OBJECT))

MULTIPART_UPLOAD = component(
    "ObjectUploadForm",
    obj(
        required=["file"],
        metadata={"type": "string", "description": "JSON object, sent before the file part."},
        file={"type": "string", "format": "binary"},
    ),
)

SIGN_REQUEST = component(
    "SignRequest",
    {**obj(required=[], expires_in={"type": "integer", "description": "Seconds the URL stays valid."}), **CLOSED},
)
SIGNED_URL = component("SignedUrl", obj(url={"type": "string", "description": "GET it without other credentials."}))

# --- examples of the main operations --------------------------------------------------------------------
_AVATAR = {
    "bucket": "avatars",
    "path": "users/ada/face.png",
    "size": 48213,
    "content_type": "image/png",
    "etag": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "owner": "0b6f2c1e-5d7a-4c1b-9a3e-2f8d6c4b1a90",
    "metadata": {"alt": "Ada's portrait"},
    "created_at": "2026-01-05T11:00:00Z",
    "updated_at": "2026-01-05T11:00:00Z",
}
examples("objects_upload", r201=_AVATAR)
examples("objects_upload_form", r201=_AVATAR)
examples("objects_list", r200={"items": [_AVATAR], "next_cursor": None})
examples(
    "objects_sign",
    request={"expires_in": 600},
    r200={
        "url": "https://baas.example.com/v1/storage/objects/avatars/users/ada/face.png?expires=1767611400&signature=5d41402abc4b2a76"
    },
)

# --- request headers -------------------------------------------------------------------------------------
_IF_MATCH = header("If-Match", "Only if the object's ETag is this one (strong comparison); else 412.")
_IF_NONE_MATCH_WRITE = header("If-None-Match", "`*`: create only, 412 if an object is already at the path.", "*")
_METADATA = header("X-Baas-Metadata", "The object's metadata, a JSON object (at most 8 KiB).", '{"alt": "a portrait"}')
request_headers("objects_upload", _METADATA, _IF_MATCH, _IF_NONE_MATCH_WRITE)
request_headers("objects_upload_form", _IF_MATCH, _IF_NONE_MATCH_WRITE)
request_headers("objects_delete", _IF_MATCH)
request_headers(
    "objects_download",
    header("Range", "One byte range, `bytes=start-end`, `start-` or `-suffix`: 206 with Content-Range.", "bytes=0-99"),
    header("If-Range", "Serve the range only if the object still has this ETag (or is not newer than this date)."),
    header("If-None-Match", "ETags the caller has (weak comparison): 304 when one matches."),
    header("If-Modified-Since", "An HTTP date: 304 when the object is not newer."),
    _IF_MATCH,
)

# --- examples of the other operations --------------------------------------------------------------------
_AVATAR_RULES = {"read": "true", "create": "auth != null", "update": "$owner == auth.id", "delete": "$owner == auth.id"}
_AVATARS = {
    "name": "avatars",
    "public": False,
    "max_size": 1048576,
    "allowed_types": ["image/png", "image/jpeg"],
    "rules": _AVATAR_RULES,
    "created_at": "2026-01-05T10:30:00Z",
    "updated_at": "2026-01-05T10:30:00Z",
}
examples("buckets_list", r200={"items": [_AVATARS], "next_cursor": None})
examples(
    "buckets_create",
    request={
        "name": "avatars",
        "max_size": 1048576,
        "allowed_types": ["image/png", "image/jpeg"],
        "rules": _AVATAR_RULES,
    },
    r201=_AVATARS,
)
examples("buckets_get", r200=_AVATARS)
examples(
    "buckets_update",
    request={"max_size": 2097152},
    r200={**_AVATARS, "max_size": 2097152, "updated_at": "2026-01-06T16:20:00Z"},
)
