"""The blocking client: auth and sessions, documents, storage, errors."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from baas_client import BaasError, MemoryStorage, create_client, filter, literal

from tests.sdk_python.conftest import PASSWORD, email

pytestmark = pytest.mark.slow  # a live server process


def test_sign_up_sign_in_and_a_session_that_outlives_its_client(live):
    storage = MemoryStorage()
    events: list[str] = []
    with create_client(live.base, storage) as client:
        client.auth.on_auth_state_change(lambda event, session: events.append(event))
        address = email()
        session = client.auth.sign_up(address, PASSWORD, {"name": "Ada"})
        assert session.user["email"] == address and session.user["data"] == {"name": "Ada"}
        assert session.expires_at > time.time()
        assert client.auth.get_user()["id"] == session.user["id"]
        user = client.auth.update_user(data={"name": "Ada L."})
        assert user["data"] == {"name": "Ada L."}
    assert events == ["INITIAL_SESSION", "SIGNED_IN", "USER_UPDATED"]

    with create_client(live.base, storage) as again:  # a new client over the same storage
        seen: list[tuple[str, str | None]] = []
        again.auth.on_auth_state_change(lambda e, s: seen.append((e, s.user["id"] if s else None)))
        assert seen == [("INITIAL_SESSION", session.user["id"])]
        assert again.auth.get_user()["data"] == {"name": "Ada L."}
        before = again.auth.session
        refreshed = again.auth.refresh()
        assert refreshed.refresh != before.refresh and refreshed.user["id"] == session.user["id"]
        again.auth.sign_out()
        assert again.auth.session is None and storage.get_item(next(iter(storage._m), "")) is None

    with create_client(live.base, storage) as signed_in:
        assert signed_in.auth.session is None
        assert signed_in.auth.sign_in(address, PASSWORD).user["id"] == session.user["id"]
        with pytest.raises(BaasError) as wrong:
            signed_in.auth.sign_in(address, "not the passphrase at all")
        assert wrong.value.status == 401 and wrong.value.code


def test_threads_racing_at_expiry_make_exactly_one_refresh(live):
    with create_client(live.base, auto_refresh=False) as client:
        client.auth.sign_up(email(), PASSWORD)
        client.db.collection("notes").create({"warm": True})
        # Make the client believe its token is about to expire.
        auth = client.aio.auth
        client._loop.call(lambda: setattr(auth, "session", replace(auth.session, expires_at=time.time() + 1)))
        refreshes = []
        client.auth.on_auth_state_change(lambda e, s: e == "TOKEN_REFRESHED" and refreshes.append(s))
        errors: list[BaseException] = []
        barrier = threading.Barrier(8)

        def work() -> None:
            barrier.wait()
            try:
                client.db.collection("notes").create({"by": threading.get_ident()})
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(refreshes) == 1 and client.auth.refresh_count == 1


def test_documents_crud_list_count_iterate_batch(live):
    with create_client(live.base) as client:
        client.auth.sign_up(email(), PASSWORD)
        notes = client.db.collection("notes")
        tag = f"t{time.time_ns()}"
        doc = notes.create({"tag": tag, "n": 0, "title": "first"})
        assert doc["version"] == 1 and notes.get(doc["id"])["data"]["title"] == "first"
        doc = notes.update(doc["id"], {"title": "second"}, ops={"n": {"increment": 5}})
        assert doc["data"] == {"tag": tag, "n": 5, "title": "second"} and doc["version"] == 2
        with pytest.raises(BaasError) as stale:
            notes.set(doc["id"], {"tag": tag, "n": 0}, if_version=1)
        assert stale.value.status == 412
        doc = notes.set(doc["id"], {"tag": tag, "n": 6}, if_version=2)
        assert doc["data"] == {"tag": tag, "n": 6}

        for i in range(7):
            notes.create({"tag": tag, "n": 10 + i})
        flt = filter("tag == {} && n >= {}", tag, 10)
        assert notes.count(filter=flt) == 7
        first = notes.list(filter=flt, order="n", limit=3)
        assert [d["data"]["n"] for d in first.items] == [10, 11, 12] and first.next_cursor
        assert [d["data"]["n"] for d in notes.iterate(filter=flt, order="-n", limit=2)] == list(range(16, 9, -1))

        results = client.db.batch(
            [
                {"op": "create", "collection": "notes", "id": f"b-{tag}", "data": {"tag": tag, "n": 100}},
                {
                    "op": "update",
                    "collection": "notes",
                    "id": doc["id"],
                    "ops": {"n": {"increment": 1}},
                    "if_version": 3,
                },
            ]
        )
        assert len(results) == 2 and notes.get(doc["id"])["data"]["n"] == 7
        notes.delete(f"b-{tag}")
        with pytest.raises(BaasError) as gone:
            notes.get(f"b-{tag}")
        assert (gone.value.code, gone.value.status) == ("not_found", 404)


def test_a_retried_write_keeps_its_idempotency_key(live):
    with create_client(live.base) as client:
        client.auth.sign_up(email(), PASSWORD)
        notes = client.db.collection("notes")
        a = notes.create({"k": 1}, idempotency_key="same-key-sdkpy")
        b = notes.create({"k": 1}, idempotency_key="same-key-sdkpy")
        assert a["id"] == b["id"]


def test_filter_quotes_values_safely():
    hostile = '" || true || "'
    assert filter("title == {}", hostile) == 'title == "\\" || true || \\""'
    assert literal([1, "a", None, True]) == '[1, "a", null, true]'
    with pytest.raises(BaasError) as bad:
        literal(object())
    assert bad.value.code == "invalid_argument" and bad.value.status == 0


def test_error_shapes(live):
    with create_client(live.base) as client:
        with pytest.raises(BaasError) as denied:
            client.db.collection("notes").create({"x": 1})  # anonymous caller: the rule needs auth
        assert denied.value.status in (401, 403) and denied.value.code in ("permission_denied", "not_authenticated")
        client.auth.sign_up(email(), PASSWORD)
        with pytest.raises(BaasError) as missing:
            client.db.collection("no_such_collection").list()
        assert (missing.value.code, missing.value.status) == ("not_found", 404)
        with pytest.raises(BaasError) as invalid:
            client.db.collection("notes").list(filter="title ==")
        assert invalid.value.code == "invalid_filter" and invalid.value.status == 400 and invalid.value.message
        assert {"line", "column"} <= set(invalid.value.details) and invalid.value.request_id
        with pytest.raises(BaasError) as unknown:  # any call through `request`, with the same mapping
            client.request("POST", "/v1/db/notes", json_body={"data": {}, "stray": 1})
        assert unknown.value.status == 400 and isinstance(unknown.value.details, dict)
    with create_client("http://127.0.0.1:1", retries=1, retry_delay=0.01) as offline:
        with pytest.raises(BaasError) as network:
            offline.db.collection("notes").list()
        assert (network.value.code, network.value.status) == ("network_error", 0)


def test_storage_upload_progress_download_range_list_sign_remove(live):
    with create_client(live.base) as client:
        client.auth.sign_up(email(), PASSWORD)
        files = client.storage.bucket("files")
        data = bytes(range(256)) * 1200  # 300 KiB: several chunks
        progress: list[tuple[int, int]] = []
        info = files.upload(
            "dir/blob one.bin", data, on_progress=lambda loaded, total: progress.append((loaded, total))
        )
        assert info["size"] == len(data) and info["path"] == "dir/blob one.bin"
        loaded = [p[0] for p in progress]
        assert loaded == sorted(set(loaded)) and loaded[-1] == len(data) and len(loaded) > 2
        assert all(total == len(data) for _, total in progress)
        assert files.download("dir/blob one.bin").content == data
        part = files.download("dir/blob one.bin", range=(10, 19))
        assert part.status_code == 206 and part.content == data[10:20]
        with pytest.raises(BaasError) as exists:
            files.upload("dir/blob one.bin", b"x", upsert=False)
        assert exists.value.status == 412
        files.upload("dir/two.txt", "hello", content_type="text/plain")
        assert [o["path"] for o in files.iterate(prefix="dir/", limit=1)] == ["dir/blob one.bin", "dir/two.txt"]
        url = files.signed_url("dir/two.txt", 60)
        import httpx

        assert httpx.get(url if url.startswith("http") else live.base + url).content == b"hello"
        files.remove("dir/two.txt")
        assert [o["path"] for o in files.list(prefix="dir/").items] == ["dir/blob one.bin"]
        with pytest.raises(BaasError) as dots:
            files.download("../x")
        assert dots.value.code == "invalid_path"


def test_sync_subscription_and_channel(live):
    import queue

    with create_client(live.base) as client, create_client(live.base, service_key=live.key) as writer:
        client.auth.sign_up(email(), PASSWORD)
        changes: queue.Queue = queue.Queue()
        tag = f"y{time.time_ns()}"
        sub = client.db.collection("notes").subscribe(changes.put, filter=filter("tag == {}", tag))
        sub.wait_ready()
        doc = writer.db.collection("notes").create({"tag": tag})
        change = changes.get(timeout=10)
        assert change["type"] == "added" and change["doc"]["id"] == doc["id"]
        sub.unsubscribe()
        room = client.realtime.channel(f"c{tag}")
        room.join({"me": 1})
        assert room.presence() == []
        room.leave()
