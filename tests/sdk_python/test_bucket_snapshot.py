"""Bucket subscriptions use the server's bucket snapshot: the initial state of a filtered
subscription, and its reload after `resync_required` (which a REST listing could not filter)."""

from __future__ import annotations

import asyncio
import time

import pytest
from baas_client import create_async_client

from tests.sdk_python.conftest import PASSWORD, email

pytestmark = pytest.mark.slow  # a live server process


def test_a_filtered_bucket_subscription_snapshots_and_resyncs_to_the_difference(live):
    async def main() -> None:
        async with create_async_client(live.base) as client:
            await client.auth.sign_up(email(), PASSWORD)
            files = client.storage.bucket("files")
            prefix = f"snap{time.time_ns()}/"
            kept = await files.upload(f"{prefix}img/kept.txt", "kept")
            changed = await files.upload(f"{prefix}img/changed.txt", "v1")
            await files.upload(f"{prefix}doc/other.txt", "not matched")
            got: list[dict] = []
            resynced: list[dict] = []
            client.realtime.on("resynced", resynced.append)
            only_images = f'starts_with($path, "{prefix}img/")'
            sub = await files.subscribe(got.append, filter=only_images, snapshot=True)
            await sub.wait_ready()
            assert sorted((c["type"], c["doc"]["path"], c.get("snapshot")) for c in got) == [
                ("added", changed["path"], True),
                ("added", kept["path"], True),
            ]
            got.clear()
            # The subscriber's view falls behind (as after a long outage): it never saw `kept`,
            # saw `changed` at another etag, and saw an object that is gone since.
            sub.known.pop(kept["path"])
            sub.known[changed["path"]] = {**changed, "etag": "old"}
            sub.known[f"{prefix}img/ghost.txt"] = {**changed, "path": f"{prefix}img/ghost.txt"}
            sub.ready.clear()
            client.realtime._send({"op": "unsubscribe", "id": sub.id})
            await asyncio.sleep(0.2)
            client.realtime._handle({"op": "error", "id": sub.id, "code": "resync_required", "message": "gone"})
            await sub.wait_ready()
            assert sorted((c["type"], c["doc"]["path"], c.get("resync")) for c in got) == [
                ("added", kept["path"], True),
                ("modified", changed["path"], True),
                ("removed", f"{prefix}img/ghost.txt", True),
            ]
            assert resynced == [{"subscription": sub.id, "added": 1, "modified": 1, "removed": 1}]
            await files.upload(f"{prefix}img/new.txt", "live again")  # and it continues live, filtered
            await files.upload(f"{prefix}doc/skip.txt", "not matched")
            for _ in range(250):
                if len(got) > 3:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            assert [(c["type"], c["doc"]["path"]) for c in got[3:]] == [("added", f"{prefix}img/new.txt")]

    asyncio.run(asyncio.wait_for(main(), 60))
