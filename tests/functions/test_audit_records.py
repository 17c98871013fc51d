"""Deployments, rollbacks, deletes and retries land in the audit log, with who did them."""

from __future__ import annotations

from tests.functions.conftest import deploy, invoke

FAILING = """
from baas_runtime import on_http


@on_http
def call(event, ctx):
    raise RuntimeError("always")
"""


def test_deploy_rollback_retry_and_delete_are_recorded(functions_api) -> None:
    assert deploy(functions_api, "audited", FAILING).status_code == 201
    assert deploy(functions_api, "audited", FAILING).status_code == 201
    rolled = functions_api.post("/v1/functions/audited/rollback", {"version": 1}, format="json")
    assert rolled.status_code == 200, rolled.json()
    failed = invoke(functions_api, "audited").json()["invocation"]
    assert failed["status"] == "failed"
    assert functions_api.post(f"/v1/invocations/{failed['id']}/retry").status_code == 202
    assert functions_api.delete("/v1/functions/audited").status_code == 204

    log = functions_api.get("/v1/admin/audit", {"target": "function:audited"}).json()["items"]
    assert [e["action"] for e in log] == ["function.delete", "function.rollback", "function.deploy", "function.deploy"]
    assert log[1]["before"] == {"version": 2} and log[1]["after"] == {"version": 1}
    assert log[3]["after"]["version"] == 1 and log[2]["after"]["version"] == 2
    assert {e["actor"]["kind"] for e in log} == {"service"}
    (retry,) = functions_api.get("/v1/admin/audit", {"action": "invocation.retry"}).json()["items"]
    assert retry["target"] == f"invocation:{failed['id']}" and retry["after"]["function"] == "audited"
