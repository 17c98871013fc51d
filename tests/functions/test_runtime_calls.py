"""The runtime's platform calls: checked against the deployment's grants in the worker."""

from __future__ import annotations

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


def test_calls_without_a_grant_raise_permission_denied(functions_api) -> None:
    deploy(functions_api, "nogrants", CALLER)
    for what, grant in [
        ("db.create", "db:write:notes"),
        ("db.get", "db:read:notes"),
        ("storage.write", "storage:write:files"),
    ]:
        result = invoke(functions_api, "nogrants", what).json()["result"]
        assert result == {"denied": f"this function has no {grant} permission"}


def test_granted_document_calls_go_through_the_documents_service(functions_api) -> None:
    from documents.services import create_collection

    create_collection(name="notes")
    deploy(functions_api, "granted", CALLER, permissions=["db:write:notes", "db:read:*"])
    created = invoke(functions_api, "granted", "db.create").json()
    assert created["invocation"]["status"] == "succeeded", created
    assert invoke(functions_api, "granted", "db.get").json()["result"]["id"] == "n1"
