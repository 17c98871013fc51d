"""Who sees what of an invocation: a caller gets the result, or the error's code and message; the
function's logs and traceback are for its owner (service role, staff) only — in the invoke answer,
the async answer, the ASGI hand-off answer, the invocation record and the lists."""

from __future__ import annotations

import json

import pytest

from tests.functions.conftest import deploy, invoke

SECRET = "s3cr3t-printed-by-the-function"
LEAKY = """
import os

from baas_runtime import on_http


class OutOfStock(Exception):
    code = "out_of_stock"


@on_http
def handler(event, ctx):
    print("token is", os.environ["TOKEN"])
    if event["payload"] == "fail":
        raise OutOfStock("Nothing left")
    if event["payload"] == "crash":
        secret_value = os.environ["TOKEN"]
        return {}[secret_value]
    return {"ok": True}
"""


@pytest.fixture
def leaky(functions_api):  # type: ignore[no-untyped-def]
    response = deploy(functions_api, "leaky", LEAKY, invoke="public", secrets={"TOKEN": SECRET})
    assert response.status_code == 201, response.json()
    return functions_api


@pytest.fixture
def caller(request, leaky, api, alice_api, bob_api):  # type: ignore[no-untyped-def]
    return {"anonymous": api, "alice": alice_api, "bob": bob_api}[request.param]


@pytest.mark.parametrize("caller", ["anonymous", "alice", "bob"], indirect=True)
def test_a_caller_gets_the_result_but_never_the_logs(caller) -> None:  # type: ignore[no-untyped-def]
    response = invoke(caller, "leaky", "hi")
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == {"ok": True}
    assert response.json()["invocation"]["logs"] is None
    assert SECRET not in response.content.decode()


@pytest.mark.parametrize("caller", ["anonymous", "alice"], indirect=True)
def test_a_caller_gets_the_error_code_and_message_but_no_traceback(caller) -> None:  # type: ignore[no-untyped-def]
    chosen = invoke(caller, "leaky", "fail").json()["invocation"]
    assert chosen["status"] == "failed"
    assert chosen["error"] == {"type": "OutOfStock", "code": "out_of_stock", "message": "Nothing left"}
    # An exception nobody chose to show (here a KeyError whose text is the secret): a fixed message.
    crashed = invoke(caller, "leaky", "crash")
    error = crashed.json()["invocation"]["error"]
    assert error == {"type": "KeyError", "code": "function_error", "message": "The function failed."}
    assert SECRET not in crashed.content.decode()
    assert "traceback" not in crashed.content.decode() and "return {}[secret_value]" not in crashed.content.decode()


@pytest.mark.parametrize("caller", ["anonymous", "alice"], indirect=True)
def test_the_async_answer_hides_the_logs_too(caller) -> None:  # type: ignore[no-untyped-def]
    from functions.api import awaiting
    from functions.waiting import wait_for

    response = invoke(caller, "leaky", "fail", **{"async": "true"})
    assert response.status_code == 202
    invocation_id = response.json()["invocation"]["id"]
    finished = wait_for(invocation_id, 15)
    assert finished.status == "failed"
    # The answer baas.asgi sends after a hand-off is built for the caller's audience as well.
    status, body = awaiting.rendered_answer(finished, for_owner=False)
    assert status == 200 and SECRET not in body.decode()
    assert json.loads(body)["invocation"]["logs"] is None
    assert "traceback" not in json.loads(body)["invocation"]["error"]
    _, owner_body = awaiting.rendered_answer(finished, for_owner=True)
    assert SECRET in json.loads(owner_body)["invocation"]["logs"]


def test_the_owner_sees_logs_and_traceback_everywhere(leaky, staff_api) -> None:  # type: ignore[no-untyped-def]
    answer = invoke(leaky, "leaky", "crash").json()["invocation"]
    assert SECRET in answer["logs"] and SECRET in answer["error"]["message"]
    assert "return {}[secret_value]" in answer["error"]["traceback"]
    for client in (leaky, staff_api):
        record = client.get(f"/v1/invocations/{answer['id']}").json()
        assert SECRET in record["logs"] and record["error"]["traceback"]
        listed = client.get("/v1/functions/leaky/invocations").json()["items"]
        assert SECRET in listed[0]["logs"]


@pytest.mark.parametrize("caller", ["anonymous", "alice"], indirect=True)
def test_a_caller_cannot_read_invocation_records(caller, leaky) -> None:  # type: ignore[no-untyped-def]
    invocation_id = invoke(leaky, "leaky", "hi").json()["invocation"]["id"]
    # Someone else's invocation: no credentials 401, a signed-in stranger 404 (not revealed).
    assert caller.get(f"/v1/invocations/{invocation_id}").status_code in (401, 404)
    assert caller.get("/v1/functions/leaky/invocations").status_code in (401, 403)
    assert caller.post(f"/v1/invocations/{invocation_id}/retry").status_code in (401, 403)


def test_the_invoker_reads_its_invocation_record_without_the_internals(leaky, alice_api, bob_api, api) -> None:  # type: ignore[no-untyped-def]
    """A 202 leaves the caller an id: the invoker reads the record (status, result, the public
    error), never logs or traceback; another user gets 404 and an anonymous caller 401."""
    from functions.waiting import wait_for

    failing = invoke(alice_api, "leaky", "crash", **{"async": "true"})
    assert failing.status_code == 202
    failing_id = failing.json()["invocation"]["id"]
    assert wait_for(failing_id, 15).status == "failed"
    record = alice_api.get(f"/v1/invocations/{failing_id}")
    assert record.status_code == 200, record.content
    assert record.json()["status"] == "failed" and record.json()["logs"] is None
    assert record.json()["error"] == {"type": "KeyError", "code": "function_error", "message": "The function failed."}
    assert SECRET not in record.content.decode() and "traceback" not in record.content.decode()

    working_id = invoke(alice_api, "leaky", "hi", **{"async": "true"}).json()["invocation"]["id"]
    assert wait_for(working_id, 15).status == "succeeded"
    done = alice_api.get(f"/v1/invocations/{working_id}").json()
    assert done["result"] == {"ok": True} and done["logs"] is None and done["error"] is None

    stranger = bob_api.get(f"/v1/invocations/{working_id}")
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "not_found"
    assert api.get(f"/v1/invocations/{working_id}").status_code == 401
    # An anonymous caller's invocation is nobody's to read but the owner's.
    anonymous_id = invoke(api, "leaky", "hi", **{"async": "true"}).json()["invocation"]["id"]
    assert alice_api.get(f"/v1/invocations/{anonymous_id}").status_code == 404
