"""No event lost across reconnects: a client that drops and resumes keeps every change, once, in order."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from tests.realtime.conftest import Client, connect, run

pytestmark = pytest.mark.slow

WRITES = 2000
RECONNECTS = 10


def test_every_change_arrives_exactly_once_in_order_across_ten_resumes(server):
    collection = f"c{uuid.uuid4().hex[:12]}"
    server.rest("POST", "/v1/db/collections", {"name": collection, "rules": {}})
    written: list[str] = []

    def writer() -> None:
        # Batches of 20 keep the test quick; each op is its own event with its own seq.
        for start in range(0, WRITES, 20):
            ops = [
                {"op": "create", "collection": collection, "id": f"w{n:05d}", "data": {"n": n}}
                for n in range(start, start + 20)
            ]
            server.rest("POST", "/v1/db/batch", {"ops": ops})
            written.extend(op["id"] for op in ops)

    async def scenario() -> list[tuple[int, str]]:
        received: list[tuple[int, str]] = []
        since = None
        thread = threading.Thread(target=writer)
        for attempt in range(RECONNECTS + 1):
            async with connect(server, server.key) as socket:
                client = Client(socket)
                request = {"op": "subscribe", "id": "s", "collection": collection}
                if since is not None:
                    request["since"] = since
                await client.send(**request)
                subscribed = await client.expect("subscribed")
                since = subscribed["seq"] if since is None else since
                if attempt == 0:
                    thread.start()
                # Read a while, then drop the connection without unsubscribing.
                deadline = asyncio.get_running_loop().time() + (0.3 if attempt < RECONNECTS else 60)
                while asyncio.get_running_loop().time() < deadline:
                    if attempt == RECONNECTS and len(received) == WRITES:
                        break
                    try:
                        message = await client.recv(timeout=0.2)
                    except TimeoutError:
                        continue
                    assert message["op"] == "change", message
                    received.append((message["seq"], message["doc"]["id"]))
                    since = message["seq"]
        thread.join()
        return received

    received = run(scenario())
    seqs = [seq for seq, _ in received]
    ids = [doc_id for _, doc_id in received]
    assert len(ids) == len(set(ids)), "no change twice"
    assert seqs == sorted(seqs), "in order"
    assert ids == written, "every change, in the order it was written"
