"""The asyncio client: racing tasks at token expiry, realtime that survives cut connections, channels."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import replace

import httpx
import pytest
from baas_client import BaasError, create_async_client, filter

from tests.sdk_python.conftest import PASSWORD, CuttableProxy, email

pytestmark = pytest.mark.slow  # a live server process

RESUMED_MS: list[float] = []


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def test_tasks_racing_at_expiry_make_exactly_one_refresh(live):
    async def main() -> None:
        async with create_async_client(live.base, auto_refresh=False) as client:
            await client.auth.sign_up(email(), PASSWORD)
            notes = client.db.collection("notes")
            await notes.create({"warm": True})
            client.auth.session = replace(client.auth.session, expires_at=time.time() + 1)
            events: list[str] = []
            client.auth.on_auth_state_change(lambda e, s: events.append(e))
            docs = await asyncio.gather(*(notes.create({"i": i}) for i in range(10)))
            assert len({d["id"] for d in docs}) == 10
            assert events.count("TOKEN_REFRESHED") == 1 and client.auth.refresh_count == 1

    run(main())


def test_a_token_the_server_calls_expired_is_refreshed_once_and_the_call_retried(live):
    async def main() -> None:
        async with create_async_client(live.base, auto_refresh=False) as client:
            await client.auth.sign_up(email(), PASSWORD)
            good = client.auth.session
            # A token the server refuses (a forged signature): the 401 triggers one refresh and a retry.
            header, claims, _ = good.access.split(".")
            client.auth.session = replace(good, access=f"{header}.{claims}.AAAA")
            assert (await client.auth.get_user())["id"] == good.user["id"]
            assert client.auth.refresh_count == 1 and client.auth.session.access != good.access

    run(main())


def test_subscription_survives_forced_disconnects_exactly_once_in_order(live):
    port = int(live.base.rsplit(":", 1)[1])
    proxy = CuttableProxy(port)

    async def main() -> None:
        async with (
            create_async_client(
                f"http://127.0.0.1:{proxy.port}", reconnect_delay=0.05, max_reconnect_delay=0.5
            ) as sub_client,
            create_async_client(live.base, service_key=live.key) as writer,
        ):
            await sub_client.auth.sign_up(email(), PASSWORD)
            tag = f"rt{time.time_ns()}"
            got: list[dict] = []
            resumed: list[float] = []
            disconnects: list[dict] = []
            sub_client.realtime.on("resumed", lambda e: resumed.append(e["ms"]))
            sub_client.realtime.on("disconnected", disconnects.append)
            sub = await sub_client.db.collection("notes").subscribe(got.append, filter=filter("tag == {}", tag))
            await sub.wait_ready()

            notes = writer.db.collection("notes")
            created: list[str] = []
            total, cuts = 60, 5

            async def write() -> None:
                for i in range(total):
                    created.append((await notes.create({"tag": tag, "i": i}))["id"])
                    await asyncio.sleep(0.01)

            async def cut() -> None:
                for _ in range(cuts):
                    await asyncio.sleep(0.12)
                    proxy.cut()
                    # Wait for the resume before the next cut, so each outage is measured (a cut
                    # while still reconnecting is no new disconnect; a loaded machine may take seconds).
                    for _ in range(1000):
                        if len(resumed) >= len(disconnects) and disconnects:
                            break
                        await asyncio.sleep(0.01)

            await asyncio.gather(write(), cut())
            for _ in range(500):
                if len(got) >= total:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # nothing more may arrive
            assert [c["doc"]["id"] for c in got] == created
            assert [c["doc"]["data"]["i"] for c in got] == list(range(total))
            seqs = [c["seq"] for c in got]
            assert seqs == sorted(set(seqs))
            assert all(c["type"] == "added" for c in got)
            assert len(disconnects) >= cuts - 1 and len(resumed) >= cuts - 1
            RESUMED_MS.extend(resumed)
            print(
                f"reconnect→resumed over {len(resumed)} outages: "
                f"p50 {statistics.median(resumed):.0f} ms, max {max(resumed):.0f} ms"
            )
            sub.unsubscribe()

    try:
        run(main())
    finally:
        proxy.close()


def test_snapshot_then_changes_and_a_refused_subscription(live):
    async def main() -> None:
        async with create_async_client(live.base) as client:
            await client.auth.sign_up(email(), PASSWORD)
            notes = client.db.collection("notes")
            tag = f"s{time.time_ns()}"
            first = await notes.create({"tag": tag, "n": 1})
            got: list[dict] = []
            sub = await notes.subscribe(got.append, filter=filter("tag == {}", tag), snapshot=True)
            await sub.wait_ready()
            await notes.update(first["id"], ops={"n": {"increment": 1}})
            await notes.delete(first["id"])
            for _ in range(250):
                if len(got) >= 3:
                    break
                await asyncio.sleep(0.02)
            assert [(c["type"], c.get("snapshot", False)) for c in got] == [
                ("added", True),
                ("modified", False),
                ("removed", False),
            ]
            errors: list[BaasError] = []
            bad = await client.db.collection("notes").subscribe(got.append, filter="title ==", on_error=errors.append)
            with pytest.raises(BaasError) as refused:
                await bad.wait_ready()
            assert refused.value.code == "invalid_filter" and errors == [refused.value]

    run(main())


def test_channels_presence_and_broadcast(live):
    async def main() -> None:
        async with create_async_client(live.base) as a, create_async_client(live.base) as b:
            await a.auth.sign_up(email(), PASSWORD)
            await b.auth.sign_up(email(), PASSWORD)
            room = f"room{time.time_ns()}"
            ca, cb = a.realtime.channel(room), b.realtime.channel(room)
            presence: list[dict] = []
            heard: list[dict] = []
            ca.on("presence", presence.append)
            cb.on("broadcast", heard.append)
            await ca.join({"name": "a"})
            await cb.join({"name": "b"})
            for _ in range(250):
                if presence:
                    break
                await asyncio.sleep(0.02)
            assert [m["state"] for m in ca.presence()] == [{"name": "b"}]
            assert presence[0]["joins"][0]["state"] == {"name": "b"}
            ca.broadcast("hello", {"x": 1})
            for _ in range(250):
                if heard:
                    break
                await asyncio.sleep(0.02)
            assert heard[0]["event"] == "hello" and heard[0]["payload"] == {"x": 1}
            cb.leave()
            for _ in range(250):
                if not ca.presence():
                    break
                await asyncio.sleep(0.02)
            assert ca.presence() == []

    run(main())


def test_resync_required_takes_a_fresh_snapshot_and_reports_the_difference(live):
    async def main() -> None:
        async with create_async_client(live.base) as client:
            await client.auth.sign_up(email(), PASSWORD)
            notes = client.db.collection("notes")
            tag = f"r{time.time_ns()}"
            kept = await notes.create({"tag": tag, "n": 1})
            changed = await notes.create({"tag": tag, "n": 2})
            got: list[dict] = []
            resynced: list[dict] = []
            client.realtime.on("resynced", resynced.append)
            sub = await notes.subscribe(got.append, filter=filter("tag == {}", tag), snapshot=True)
            await sub.wait_ready()
            assert len(got) == 2
            got.clear()
            # What the subscriber saw falls behind the log (as after a long outage): one document it
            # never saw, one it saw at an older version, one that is gone since.
            sub.known.pop(kept["id"])
            sub.known[changed["id"]] = {**changed, "version": 0}
            sub.known["ghost"] = {**changed, "id": "ghost"}
            sub.ready.clear()
            # The server answers `resync_required` to a `subscribe … since`; here the subscription is
            # live, so end it on the server first, then hand the SDK the answer.
            client.realtime._send({"op": "unsubscribe", "id": sub.id})
            await asyncio.sleep(0.2)
            client.realtime._handle({"op": "error", "id": sub.id, "code": "resync_required", "message": "gone"})
            await sub.wait_ready()
            kinds = sorted((c["type"], c["doc"]["id"], c.get("resync")) for c in got)
            assert kinds == sorted(
                [("added", kept["id"], True), ("modified", changed["id"], True), ("removed", "ghost", True)]
            )
            assert resynced == [{"subscription": sub.id, "added": 1, "modified": 1, "removed": 1}]
            await notes.update(kept["id"], ops={"n": {"increment": 1}})  # and it continues live
            for _ in range(250):
                if len(got) > 3:
                    break
                await asyncio.sleep(0.02)
            assert got[3]["type"] == "modified" and got[3]["doc"]["data"]["n"] == 2

    run(main())


def test_anonymous_sign_in_sign_out_everywhere_and_bucket_events(live):
    async def main() -> None:
        async with create_async_client(live.base) as anon:
            session = await anon.auth.sign_in_anonymously({"nick": "x"})
            assert session.user["is_anonymous"] is True and session.user["data"] == {"nick": "x"}
            await anon.auth.sign_out()
            assert anon.auth.session is None

        address = email()
        async with create_async_client(live.base) as one, create_async_client(live.base) as two:
            await one.auth.sign_up(address, PASSWORD)
            await two.auth.sign_in(address, PASSWORD)
            files = one.storage.bucket("files")
            events: list[dict] = []
            sub = await files.subscribe(events.append)
            await sub.wait_ready()
            info = await files.upload(f"ev/{time.time_ns()}.txt", b"hi", content_type="text/plain")
            for _ in range(250):
                if events:
                    break
                await asyncio.sleep(0.02)
            assert events[0]["type"] == "added" and events[0]["doc"]["path"] == info["path"]
            sub.unsubscribe()
            await one.auth.sign_out(all=True)  # every session of the user
            with pytest.raises(BaasError) as out:
                await two.auth.refresh()
            assert out.value.status == 401 and two.auth.session is None

    run(main())


class LoseFirstAnswer(httpx.AsyncHTTPTransport):
    """The real transport, except that the first answer to a POST is lost after the server acted on it."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.method == "POST" and request.url.path.startswith("/v1/db/"):
            self.keys.append(request.headers.get("idempotency-key"))
            if len(self.keys) == 1:
                await response.aread()
                raise httpx.ReadError("the answer was lost")
        return response


def test_a_write_whose_answer_is_lost_is_retried_with_the_same_key_and_written_once(live):
    async def main() -> None:
        transport = LoseFirstAnswer()
        async with create_async_client(live.base, transport=transport, retry_delay=0.01) as client:
            await client.auth.sign_up(email(), PASSWORD)
            tag = f"i{time.time_ns()}"
            doc = await client.db.collection("notes").create({"tag": tag})
            assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1] and transport.keys[0]
            assert await client.db.collection("notes").count(filter=filter("tag == {}", tag)) == 1
            assert (await client.db.collection("notes").get(doc["id"]))["data"] == {"tag": tag}

    run(main())
