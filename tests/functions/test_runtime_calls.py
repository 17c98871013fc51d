"""The runtime's platform calls: checked against the deployment's grants in the worker."""

from __future__ import annotations

import pytest

from tests.functions.conftest import deploy, invoke

CALLER = """
from baas_runtime import on_http, db, storage, PermissionDenied

@on_http
def call(event, ctx):
    what = event["payload"]
    try:
        if what == "db.create":
            return db.collection("notes").create({"text": "hi"}, id="n1")
        if what == "db.get":
            return db.collection("notes").get("n1")
        if what == "storage.write":
            return storage.write("files", "a.txt", b"hello")
    except PermissionDenied as denied:
        return {"denied": str(denied)}
"""


CALLER_TS = """
import { onHttp, db, storage, PermissionDenied } from "baas";

export const call = onHttp(async (event) => {
  const what = event.payload;
  try {
    if (what === "db.create") return await db.collection("notes").create({ text: "hi" }, "n1");
    if (what === "db.get") return await db.collection("notes").get("n1");
    if (what === "storage.write") return await storage.write("files", "a.txt", "hello");
  } catch (error) {
    if (error instanceof PermissionDenied) return { denied: error.message };
    throw error;
  }
  return null;
});
"""
SOURCES = {"python": {"main.py": CALLER}, "deno": {"main.ts": CALLER_TS}}


@pytest.mark.parametrize("runtime", ["python", "deno"])
def test_calls_without_a_grant_raise_permission_denied(functions_api, runtime) -> None:
    assert deploy(functions_api, "nogrants", "", files=SOURCES[runtime]).status_code == 201
    for what, grant in [
        ("db.create", "db:write:notes"),
        ("db.get", "db:read:notes"),
        ("storage.write", "storage:write:files"),
    ]:
        result = invoke(functions_api, "nogrants", what).json()["result"]
        assert result == {"denied": f"this function has no {grant} permission"}


@pytest.mark.parametrize("runtime", ["python", "deno"])
def test_granted_document_calls_go_through_the_documents_service(functions_api, runtime) -> None:
    from documents.services import create_collection

    create_collection(name="notes")
    response = deploy(functions_api, "granted", "", files=SOURCES[runtime], permissions=["db:write:notes", "db:read:*"])
    assert response.status_code == 201, response.json()
    created = invoke(functions_api, "granted", "db.create").json()
    assert created["invocation"]["status"] == "succeeded", created
    assert invoke(functions_api, "granted", "db.get").json()["result"]["id"] == "n1"
