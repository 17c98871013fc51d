"""Deploy, versions, rollback, delete; triggers discovered inside the sandbox; secrets."""

from __future__ import annotations

import io
import textwrap
import zipfile

import pytest

from tests.functions.conftest import HELLO, deploy, invoke

TRIGGERS = """
from baas_runtime import on_document_created, on_object_deleted, on_schedule, on_http

@on_document_created("orders", filter="doc.total > 10")
def receipt(event, ctx): pass

@on_object_deleted("uploads", prefix="img/")
def cleanup(event, ctx): pass

@on_schedule("0 * * * *")
def hourly(event, ctx): pass

@on_http
def api(event, ctx):
    import os
    return {"env": os.environ.get("GREETING"), "secret": os.environ.get("TOKEN")}
"""


def test_it_deploys_a_version_with_its_triggers_and_hides_secrets(functions_api) -> None:
    response = deploy(
        functions_api,
        "shop",
        TRIGGERS,
        env={"GREETING": "hi"},
        secrets={"TOKEN": "s3cret"},
        permissions=["db:read:orders", "storage:read:uploads"],
        timeout=5,
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == 1 and body["active"] is True
    assert [t["type"] for t in body["triggers"]] == ["document.created", "object.deleted", "schedule", "http"]
    assert body["triggers"][0] == {
        "type": "document.created",
        "collection": "orders",
        "filter": "doc.total > 10",
        "handler": "receipt",
    }
    assert body["secrets"] == ["TOKEN"] and "s3cret" not in response.content.decode()
    assert "s3cret" not in functions_api.get("/v1/functions/shop").content.decode()
    from functions.models import FunctionVersion

    assert "s3cret" not in FunctionVersion.objects.get().secrets_encrypted
    assert invoke(functions_api, "shop").json()["result"] == {"env": "hi", "secret": "s3cret"}


def test_a_load_error_fails_the_deploy_and_keeps_the_active_version(functions_api) -> None:
    assert deploy(functions_api, "app", HELLO).status_code == 201
    response = deploy(functions_api, "app", "import json\n\ndef broken(:\n    pass\n")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "deploy_failed"
    assert error["details"]["error"]["type"] == "SyntaxError"
    assert 'File "/function/main.py", line 3' in error["details"]["error"]["traceback"]
    response = deploy(functions_api, "app", "import missing_module_xyz\n")
    assert response.json()["error"]["details"]["error"]["type"] == "ModuleNotFoundError"
    assert functions_api.get("/v1/functions/app").json()["version"] == 1
    assert invoke(functions_api, "app", 1).json()["result"]["echo"] == 1


ECHO_TS = """
import { onHttp } from "baas";

export const hello = onHttp((event) => ({ echo: event.payload }));
"""
TWO_TS = """
import { onHttp } from "baas";

export const h = onHttp(() => "two");
"""
TWO_PY = "from baas_runtime import on_http\n\n@on_http\ndef h(e, c):\n    return 'two'\n"
VERSIONS = {
    "python": ({"main.py": textwrap.dedent(HELLO)}, {"main.py": TWO_PY}),
    "deno": ({"main.ts": ECHO_TS}, {"main.ts": TWO_TS}),
}


@pytest.mark.parametrize("runtime", ["python", "deno"])
def test_versions_and_rollback(functions_api, runtime) -> None:
    first, second = VERSIONS[runtime]
    assert deploy(functions_api, "ver", "", files=first).status_code == 201
    assert deploy(functions_api, "ver", "", files=second).status_code == 201
    versions = functions_api.get("/v1/functions/ver/versions").json()["items"]
    assert [(v["version"], v["active"], v["runtime"]) for v in versions] == [(2, True, runtime), (1, False, runtime)]
    assert invoke(functions_api, "ver").json()["result"] == "two"
    assert functions_api.post("/v1/functions/ver/rollback", {"version": 1}, format="json").status_code == 200
    assert invoke(functions_api, "ver", "x").json()["result"]["echo"] == "x"
    assert functions_api.post("/v1/functions/ver/rollback", {"version": 9}, format="json").status_code == 404
    assert functions_api.delete("/v1/functions/ver").status_code == 204
    assert functions_api.get("/v1/functions/ver").status_code == 404
    assert invoke(functions_api, "ver").status_code == 404


def test_it_accepts_a_zip_bundle_and_refuses_escaping_paths(functions_api) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fn/main.py", HELLO)
    buffer.seek(0)
    buffer.name = "bundle.zip"
    response = functions_api.post("/v1/functions", {"name": "zipped", "bundle": buffer}, format="multipart")
    assert response.status_code == 201, response.json()
    assert response.json()["files"] == ["main.py"]
    bad = deploy(functions_api, "bad", "", files={"../evil.py": "x", "main.py": HELLO})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    link = io.BytesIO()
    with zipfile.ZipFile(link, "w") as archive:
        archive.writestr("main.py", HELLO)
        info = zipfile.ZipInfo("escape.py")
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "../../etc/passwd")
    link.seek(0)
    link.name = "bundle.zip"
    response = functions_api.post("/v1/functions", {"name": "linked", "bundle": link}, format="multipart")
    assert response.status_code == 400


def test_only_service_and_staff_manage_functions(functions_api, api) -> None:
    assert api.get("/v1/functions").status_code == 401
    assert api.post("/v1/functions", {"name": "x", "files": {"main.py": HELLO}}, format="json").status_code == 401
    deploy(functions_api, "private", HELLO)
    assert invoke(api, "private").status_code == 401
    deploy(functions_api, "open", HELLO, invoke="public")
    body = invoke(api, "open", 5).json()
    assert body["result"]["echo"] == 5
