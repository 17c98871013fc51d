"""Calls from inside a sandbox, performed by the worker on the function's behalf.

Each call is checked against the deployment's grants first; then it goes through the owning
service's Python API as `function_principal(...)`, with the invocation as causation so that the
writes it makes carry the chain depth. Errors come back to the sandbox as `{code, message,
details}` and are raised there as `baas_runtime` exceptions; internal errors are logged here and
reported to the function without their internals.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any

from baas.errors import ApiError
from baas.events import Causation
from baas.principals import function_principal
from documents import services as documents
from functions import grants
from storage import services as storage

logger = logging.getLogger("baas.functions")


class _Denied(Exception):
    pass


def _b64(text: Any) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("data must be base64 bytes.", code="invalid_request") from None


class Bridge:
    """Performs one invocation's calls. `depth` is the invocation's own causation depth."""

    def __init__(self, *, function: str, version: int, permissions: list[str], invocation_id: str, depth: int):
        self.permissions = permissions
        self.principal = function_principal(function=function, version=version)
        self.causation = Causation(invocation_id=invocation_id, depth=depth + 1)

    def __call__(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        handler: Callable[[dict[str, Any]], Any] | None = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None or not method.startswith(("db.", "storage.")):
            return {"ok": False, "error": {"code": "invalid_request", "message": f"unknown call {method!r}"}}
        try:
            return {"ok": True, "value": handler(args)}
        except _Denied as denied:
            return {"ok": False, "error": {"code": "permission_denied", "message": str(denied)}}
        except ApiError as error:
            return {"ok": False, "error": {"code": error.code, "message": error.message, "details": error.details}}
        except (TypeError, ValueError) as error:
            return {"ok": False, "error": {"code": "invalid_request", "message": str(error)}}
        except Exception:
            logger.exception("a function's platform call failed", extra={"method": method})
            return {"ok": False, "error": {"code": "internal_error", "message": "The platform call failed."}}

    def _require(self, service: str, access: str, name: Any) -> str:
        if not isinstance(name, str) or not name:
            raise ApiError(f"a {'collection' if service == 'db' else 'bucket'} name is required.")
        if not grants.allows(self.permissions, service, access, name):
            raise _Denied(f"this function has no {service}:{access}:{name} permission")
        return name

    # --- documents ------------------------------------------------------------------------------
    def _db_create(self, a: dict[str, Any]) -> Any:
        collection = self._require("db", "write", a.get("collection"))
        return documents.create_document(
            principal=self.principal,
            collection=collection,
            data=a.get("data"),
            doc_id=a.get("id"),
            causation=self.causation,
        )

    def _db_get(self, a: dict[str, Any]) -> Any:
        collection = self._require("db", "read", a.get("collection"))
        return documents.get_document(principal=self.principal, collection=collection, doc_id=_text(a, "id"))

    def _db_list(self, a: dict[str, Any]) -> Any:
        collection = self._require("db", "read", a.get("collection"))
        kwargs: dict[str, Any] = {"filter": a.get("filter"), "order": a.get("order")}
        if a.get("limit") is not None:
            kwargs["limit"] = a["limit"]
        page = documents.list_documents(principal=self.principal, collection=collection, **kwargs)
        return page["items"]

    def _db_set(self, a: dict[str, Any]) -> Any:
        collection = self._require("db", "write", a.get("collection"))
        doc, _created = documents.set_document(
            principal=self.principal,
            collection=collection,
            doc_id=_text(a, "id"),
            data=a.get("data"),
            causation=self.causation,
        )
        return doc  # the runtime's `.set()` returns the document, as the REST API does

    def _db_update(self, a: dict[str, Any]) -> Any:
        collection = self._require("db", "write", a.get("collection"))
        return documents.update_document(
            principal=self.principal,
            collection=collection,
            doc_id=_text(a, "id"),
            data=a.get("data"),
            ops=a.get("ops"),
            causation=self.causation,
        )

    def _db_delete(self, a: dict[str, Any]) -> Any:
        collection = self._require("db", "write", a.get("collection"))
        documents.delete_document(
            principal=self.principal, collection=collection, doc_id=_text(a, "id"), causation=self.causation
        )
        return None

    # --- storage --------------------------------------------------------------------------------
    def _storage_read(self, a: dict[str, Any]) -> Any:
        bucket = self._require("storage", "read", a.get("bucket"))
        data = storage.read_object(principal=self.principal, bucket=bucket, path=_text(a, "path"))
        return base64.b64encode(data).decode()

    def _storage_write(self, a: dict[str, Any]) -> Any:
        bucket = self._require("storage", "write", a.get("bucket"))
        return storage.write_object(
            principal=self.principal,
            bucket=bucket,
            path=_text(a, "path"),
            data=_b64(a.get("data")),
            content_type=a.get("content_type"),
            causation=self.causation,
        )

    def _storage_delete(self, a: dict[str, Any]) -> Any:
        bucket = self._require("storage", "write", a.get("bucket"))
        storage.delete_object(principal=self.principal, bucket=bucket, path=_text(a, "path"), causation=self.causation)
        return None

    def _storage_sign(self, a: dict[str, Any]) -> Any:
        bucket = self._require("storage", "read", a.get("bucket"))
        return storage.sign_url(
            principal=self.principal, bucket=bucket, path=_text(a, "path"), expires_in=int(a.get("expires_in") or 3600)
        )


def _text(a: dict[str, Any], name: str) -> str:
    """A required string argument of a runtime call (a document id, an object path)."""
    value = a.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(f"{name} must be a non-empty string.")
    return value
