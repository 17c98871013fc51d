"""The realtime `auth` exchange: the server acknowledges a new token with `authenticated`; a refused
`auth` makes the SDK reconnect with a fresh token, and the subscription resumes."""

from __future__ import annotations

import asyncio

import pytest
from baas_client import create_async_client

from tests.sdk_python.conftest import PASSWORD, email

pytestmark = pytest.mark.slow  # a live server process


def test_a_new_token_is_acknowledged_and_a_refused_one_reconnects(live):
    async def main() -> None:
        async with create_async_client(live.base) as client:
            await client.auth.sign_up(email(), PASSWORD)
            rt = client.realtime
            seen: list[dict] = []
            handle = rt._handle
            rt._handle = lambda m: (seen.append(m), handle(m))  # type: ignore[method-assign]
            events: list[str] = []
            for name in ("disconnected", "resumed", "error"):
                rt.on(name, lambda *_a, name=name: events.append(name))
            got: list[dict] = []
            sub = await client.db.collection("notes").subscribe(got.append)
            await sub.wait_ready()

            await client.auth.refresh()  # TOKEN_REFRESHED → {op: auth, id: "auth", token}
            for _ in range(250):
                if any(m.get("op") == "authenticated" for m in seen):
                    break
                await asyncio.sleep(0.02)
            assert {"op": "authenticated", "id": "auth"} in seen
            assert events == []  # acknowledged: no error, no reconnect

            rt._send({"op": "auth", "id": "auth", "token": "not-a-token"})
            for _ in range(500):
                if "resumed" in events:
                    break
                await asyncio.sleep(0.02)
            assert [m["code"] for m in seen if m.get("op") == "error" and m.get("id") == "auth"] == ["token_invalid"]
            assert events == ["disconnected", "resumed"]
            made = await client.db.collection("notes").create({"after": "reconnect"})
            for _ in range(250):
                if got:
                    break
                await asyncio.sleep(0.02)
            assert [c["doc"]["id"] for c in got] == [made["id"]]

    asyncio.run(asyncio.wait_for(main(), 60))
