"""The image pipeline of examples/thumbnails, end to end on a whole platform (web server, worker,
real sandboxes; PostgreSQL + Redis when the suite runs on them): the example deployed with the CLI,
an image uploaded over HTTP, a thumbnail made by Pillow inside the sandbox, and the metadata
document seen arriving by a realtime subscriber — while `baas functions logs --follow` shows the
invocation live."""

from __future__ import annotations

import asyncio
import re
import struct
import subprocess
import time
import urllib.request
import zlib
from pathlib import Path

import pytest

from tests.conftest import BAAS_BIN, service_missing
from tests.platform.processes import RunningProcess, http, wait_until
from tests.realtime.conftest import Client, connect, prepare, stack_env, start_server

pytestmark = pytest.mark.slow  # a baas server, a worker and sandboxes (tests/process_level.py)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "thumbnails"


def png(width: int, height: int) -> bytes:
    """A small RGB gradient as a PNG, without Pillow on this side."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, 128))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def stack(tmp_path: Path):  # type: ignore[no-untyped-def]
    if not Path("/usr/lib/python3/dist-packages/PIL").is_dir():
        service_missing("Pillow for the sandbox (scripts/bootstrap installs python3-pil)")
    for env in stack_env(tmp_path / "data"):
        env = prepare({**env, "BAAS_SANDBOX": "bubblewrap"})
        server = start_server(env)
        worker = RunningProcess([BAAS_BIN, "worker", "--pool", "threads", "--concurrency", "2"], env=env)
        try:
            assert wait_until(lambda w=worker: "ready" in w.text, timeout=30), worker.text
            yield server
        finally:
            worker.stop()
            server.process.stop()


def test_an_uploaded_image_gets_a_thumbnail_and_a_document_seen_live(stack) -> None:  # type: ignore[no-untyped-def]
    server = stack
    cli_env = {**server.env, "BAAS_URL": server.base, "BAAS_SERVICE_KEY": server.key}
    server.rest("POST", "/v1/storage/buckets", {"name": "uploads", "allowed_types": ["image/*"]})
    server.rest("POST", "/v1/storage/buckets", {"name": "thumbnails"})
    server.rest("POST", "/v1/db/collections", {"name": "images"})
    deployed = subprocess.run(
        [BAAS_BIN, "functions", "deploy", str(EXAMPLE)], env=cli_env, capture_output=True, text=True, timeout=60
    )
    assert deployed.returncode == 0, deployed.stderr
    deployed_line = r"^deployed thumbnails version 1 in \d+ ms \(triggers: object\.created\(uploads\)\)$"
    assert re.search(deployed_line, deployed.stdout, re.M), deployed.stdout
    follow = RunningProcess([BAAS_BIN, "functions", "logs", "thumbnails", "--follow"], env=cli_env)

    async def scenario() -> dict:
        async with connect(server, server.key) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="s", collection="images")
            await client.expect("subscribed", id="s")
            request = urllib.request.Request(
                f"{server.base}/v1/storage/objects/uploads/photos/cat.png",
                data=png(640, 400),
                method="PUT",
                headers={"Authorization": f"Bearer {server.key}", "Content-Type": "image/png"},
            )
            uploaded_at = time.monotonic()
            await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read())
            change = await client.expect("change", timeout=30, id="s", type="added")
            change["seconds"] = time.monotonic() - uploaded_at
            return change

    try:
        change = asyncio.run(scenario())
        doc = change["doc"]
        assert doc["id"] == "photos_cat.png"
        assert doc["data"]["source"] == {
            "bucket": "uploads",
            "path": "photos/cat.png",
            "size": len(png(640, 400)),
            "content_type": "image/png",
            "format": "PNG",
            "width": 640,
            "height": 400,
        }
        thumb = doc["data"]["thumbnail"]
        assert (thumb["bucket"], thumb["path"], thumb["width"], thumb["height"]) == (
            "thumbnails",
            "photos/cat.png",
            256,
            160,
        )
        request = urllib.request.Request(
            f"{server.base}/v1/storage/objects/thumbnails/photos/cat.png",
            headers={"Authorization": f"Bearer {server.key}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Type"] == "image/png"
            assert png_size(response.read()) == (256, 160)

        _status, page = http("GET", f"{server.base}/v1/functions/thumbnails/invocations", token=server.key)
        (invocation,) = page["items"]
        assert invocation["status"] == "succeeded", (invocation["error"], invocation["logs"])
        assert invocation["trigger"] == "object.created"
        assert invocation["event_id"] == doc["data"]["event_id"]
        assert "thumbnail photos/cat.png (256x160)" in invocation["logs"]
        assert wait_until(lambda: invocation["id"] in follow.text, timeout=10), follow.text
        assert "object.created" in follow.text and "SUCCEEDED" in follow.text
    finally:
        follow.kill()
