"""The Python SDK: `functions.invoke` against a real sandboxed function, and closing a client right
after its websocket went idle leaves no task behind."""

from __future__ import annotations

import gc
import logging
import time
import uuid

import pytest
from baas_client import BaasError, create_client

from tests.conftest import BAAS_BIN, service_missing
from tests.platform.processes import RunningProcess, http
from tests.sdk_python.conftest import PASSWORD, email

pytestmark = pytest.mark.slow

SOURCE = """
from baas_runtime import on_http, BaasError

@on_http
def handle(event, ctx):
    payload = event["payload"] or {}
    if payload.get("fail"):
        raise BaasError("Nothing left", code="out_of_stock")
    return {"echo": payload, "user": (event["auth"] or {}).get("id")}
"""


def test_functions_invoke_result_the_functions_own_error_and_async(live):
    if http("GET", f"{live.base}/v1/health")[1].get("sandbox") == "unavailable":
        service_missing("the bubblewrap sandbox (functions never run unsandboxed)")
    worker = RunningProcess([BAAS_BIN, "worker", "--pool", "threads", "--concurrency", "2"], env=live.env)
    name = f"fn{uuid.uuid4().hex[:10]}"
    try:
        live.rest("POST", "/v1/functions", {"name": name, "files": {"main.py": SOURCE}, "invoke": "authenticated"})
        with create_client(live.base) as app:
            user = app.auth.sign_up(email(), PASSWORD).user
            # A cold worker may miss the server's wait (202, no result yet): warm it up first.
            deadline = time.monotonic() + 150
            while True:
                answer = app.functions.invoke(name, {"hello": "world"})
                if answer["invocation"]["status"] == "succeeded" or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert answer["result"] == {"echo": {"hello": "world"}, "user": user["id"]}
            with pytest.raises(BaasError) as failed:
                app.functions.invoke(name, {"fail": True})
            assert (failed.value.code, failed.value.message) == ("out_of_stock", "Nothing left")
            queued = app.functions.invoke(name, {"later": True}, async_=True)
            assert "result" not in queued and queued["invocation"]["status"] in ("queued", "running", "succeeded")
            deadline = time.monotonic() + 60
            while (inv := app.functions.get(queued["invocation"]["id"]))["status"] != "succeeded":
                assert time.monotonic() < deadline and inv["status"] in ("queued", "running"), inv
                time.sleep(0.3)
            assert inv["result"] == {"echo": {"later": True}, "user": user["id"]}
    finally:
        worker.stop()


def test_closing_right_after_the_last_unsubscribe_leaves_no_pending_task(live, caplog):
    # The last unsubscribe shuts the websocket down without waiting; close() used to stop the
    # loop while that run loop was still unwinding: "Task was destroyed but it is pending!".
    caplog.set_level(logging.ERROR, logger="asyncio")
    for _ in range(5):
        app = create_client(live.base, service_key=live.key)
        sub = app.db.collection("notes").subscribe(lambda change: None)
        sub.wait_ready(10)
        sub.unsubscribe()
        app.close()
        del app, sub
        gc.collect()
    destroyed = [r.getMessage() for r in caplog.records if "destroyed" in r.getMessage()]
    assert destroyed == []
