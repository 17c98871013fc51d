"""A trigger hands its handler the document or object, so it needs the deployment's read grant of
that collection or bucket: refused at deploy (400 naming the trigger), and a deployment that
lacks it anyway (deployed before this check, or edited) receives no events at dispatch."""

from __future__ import annotations

from typing import Any

import pytest

from baas.principals import service_principal
from tests.functions.conftest import deploy

pytestmark = pytest.mark.slow  # deploys functions: each deploy starts a sandbox (tests/process_level.py)

ON_SECRETS = """
from baas_runtime import on_document_created

@on_document_created("diaries")
def copy_diary(event, ctx):
    return event["doc"]
"""
ON_UPLOADS = """
from baas_runtime import on_object_created

@on_object_created("private-files", prefix="in/")
def watch(event, ctx):
    return event["object"]
"""
ON_SECRETS_TS = """
import { onDocumentCreated } from "baas";

export const copy_diary = onDocumentCreated("diaries", (event) => event.doc);
"""
ON_UPLOADS_TS = """
import { onObjectCreated } from "baas";

export const watch = onObjectCreated("private-files", { prefix: "in/" }, (event) => event.object);
"""
SERVICE = service_principal(name="tests", key_id="k")


def bundle(source: str) -> dict[str, str]:
    return {"main.ts" if 'from "baas"' in source else "main.py": source}


@pytest.mark.parametrize(
    ("source", "permissions", "needed"),
    [
        (ON_SECRETS, [], "db:read:diaries"),
        (ON_SECRETS, ["db:write:diaries", "db:read:other", "storage:read:*"], "db:read:diaries"),
        (ON_UPLOADS, [], "storage:read:private-files"),
        (ON_UPLOADS, ["db:read:*", "storage:write:private-files"], "storage:read:private-files"),
        (ON_SECRETS_TS, ["db:write:diaries"], "db:read:diaries"),
        (ON_UPLOADS_TS, ["storage:write:private-files"], "storage:read:private-files"),
    ],
)
def test_a_trigger_without_the_read_grant_is_refused_at_deploy(service_api, source, permissions, needed) -> None:  # type: ignore[no-untyped-def]
    response = deploy(service_api, "snoop", "", files=bundle(source), permissions=permissions)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    problem = error["details"]["triggers"][0]
    assert problem["code"] == "missing_grant"
    assert needed in problem["message"] and ("copy_diary" in problem["message"] or "watch" in problem["message"])
    assert service_api.get("/v1/functions/snoop").status_code == 404


@pytest.mark.parametrize(
    ("source", "permissions"),
    [
        (ON_SECRETS, ["db:read:diaries"]),
        (ON_SECRETS, ["db:read:*"]),
        (ON_UPLOADS, ["storage:read:private-files"]),
        (ON_UPLOADS, ["storage:read:*"]),
        (ON_SECRETS_TS, ["db:read:diaries"]),
        (ON_UPLOADS_TS, ["storage:read:*"]),
    ],
)
def test_the_matching_read_grant_or_a_wildcard_is_enough(service_api, source, permissions) -> None:  # type: ignore[no-untyped-def]
    assert deploy(service_api, "allowed", "", files=bundle(source), permissions=permissions).status_code == 201


@pytest.fixture
def sent(db: None, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    from functions import sending

    messages: list[Any] = []
    monkeypatch.setattr(sending, "run_invocations", lambda ids, **_: messages.extend(ids))
    return messages


def test_a_deployment_lacking_the_grant_gets_no_events_at_dispatch(service_api, sent: list[Any]) -> None:
    from documents import services as documents
    from functions.dispatcher import dispatch
    from functions.models import FunctionVersion, Invocation

    assert deploy(service_api, "diary-copier", ON_SECRETS, permissions=["db:read:diaries"]).status_code == 201
    documents.create_collection(name="diaries")
    documents.create_document(principal=SERVICE, collection="diaries", data={"text": "first"})
    assert dispatch() == 1

    # As a deployment made before triggers needed the grant: the same trigger, no permission.
    FunctionVersion.objects.filter(function__name="diary-copier").update(permissions=[])
    documents.create_document(principal=SERVICE, collection="diaries", data={"text": "dear diary"})
    assert dispatch() == 0
    assert Invocation.objects.count() == 1
    assert not any("dear diary" in str(event) for event in Invocation.objects.values_list("event", flat=True))


def test_a_retry_by_hand_needs_the_grant_too(service_api, sent: list[Any]) -> None:
    from documents import services as documents
    from functions.dispatcher import dispatch
    from functions.models import FunctionVersion, Invocation

    deploy(service_api, "diary-copier", ON_SECRETS, permissions=["db:read:diaries"])
    documents.create_collection(name="diaries")
    documents.create_document(principal=SERVICE, collection="diaries", data={"text": "first"})
    dispatch()
    invocation = Invocation.objects.get()
    Invocation.objects.filter(pk=invocation.pk).update(status=Invocation.DEAD)
    FunctionVersion.objects.filter(function__name="diary-copier").update(permissions=[])
    response = service_api.post(f"/v1/invocations/{invocation.pk}/retry")
    assert response.status_code == 409, response.content
    assert "db:read:diaries" in response.json()["error"]["message"]
    assert Invocation.objects.get().status == Invocation.DEAD
