"""HTTP invoke through a real worker and real sandboxes: results, logs, warm reuse, async."""

from __future__ import annotations

from tests.functions.conftest import HELLO, deploy, invoke


def test_it_invokes_and_records_the_invocation(functions_api) -> None:
    assert deploy(functions_api, "hello", HELLO).status_code == 201
    response = invoke(functions_api, "hello", {"n": 1})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["result"]["echo"] == {"n": 1}
    invocation = body["invocation"]
    assert invocation["status"] == "succeeded"
    assert invocation["function"] == "hello" and invocation["version"] == 1
    assert invocation["trigger"] == "http" and invocation["attempts"] == 1
    assert invocation["logs"] == "hello {'n': 1}\n"
    assert invocation["duration_ms"] is not None
    assert body["result"]["invocation"] == invocation["id"]
    fetched = functions_api.get(f"/v1/invocations/{invocation['id']}").json()
    assert fetched["result"] == body["result"]


def test_module_state_survives_between_warm_invocations(functions_api) -> None:
    deploy(functions_api, "warm", HELLO)
    counts = [invoke(functions_api, "warm", i).json()["result"]["calls"] for i in range(4)]
    # Two worker threads may each hold a sandbox; together they served every call, and at least
    # one sandbox served more than one.
    assert max(counts) >= 2


def test_async_invoke_answers_202_then_finishes(functions_api) -> None:
    from functions.waiting import wait_for

    deploy(functions_api, "later", HELLO)
    response = invoke(functions_api, "later", "x", **{"async": "true"})
    assert response.status_code == 202
    invocation = response.json()["invocation"]
    assert invocation["status"] == "queued"
    assert wait_for(invocation["id"], 10).status == "succeeded"
    listed = functions_api.get("/v1/functions/later/invocations?status=succeeded").json()
    assert [item["id"] for item in listed["items"]] == [invocation["id"]]


def test_the_user_traceback_is_recorded(functions_api) -> None:
    deploy(
        functions_api,
        "boom",
        """
        from baas_runtime import on_http

        def helper(x):
            return 1 / x

        @on_http
        def handler(event, ctx):
            return helper(event["payload"])
    """,
    )
    body = invoke(functions_api, "boom", 0).json()
    error = body["invocation"]["error"]
    assert body["invocation"]["status"] == "failed" and body["result"] is None
    assert error["type"] == "ZeroDivisionError"
    assert 'File "/function/main.py", line 5, in helper' in error["traceback"]
    assert "baas_runtime" not in error["traceback"] and "functions/" not in error["traceback"]
    assert invoke(functions_api, "boom", 2).json()["result"] == 0.5


def test_a_blocking_wait_closes_the_connection_it_opened(functions_api) -> None:
    """`waiting.wait_for` does its database work on a thread of its own; that thread's connection is
    closed when the wait ends (a leftover one kept the test database from being dropped)."""
    import threading

    from django.db import connection
    from django.db.backends.signals import connection_created

    from functions.waiting import wait_for

    deploy(functions_api, "closing", HELLO)
    invocation_id = invoke(functions_api, "closing", 1, **{"async": "true"}).json()["invocation"]["id"]
    opened = []

    def record(sender, connection, **_):  # type: ignore[no-untyped-def]
        if threading.current_thread() is not threading.main_thread():
            opened.append(connection)

    connection_created.connect(record)
    try:
        assert wait_for(invocation_id, 10).status == "succeeded"
    finally:
        connection_created.disconnect(record)
    assert opened and all(wrapper.connection is None for wrapper in opened)
    assert connection.cursor()  # and this thread's own connection was left alone
