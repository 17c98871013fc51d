"""`baas functions init NAME --template …`: a working function, its manifest and its test.

Each template's test runs the function on a real embedded platform, in the production sandbox
(`baas_runtime.testing`), and passes as generated: `cd NAME && pytest`.
"""

from __future__ import annotations

import json
from typing import Any

TEMPLATES = ("http", "document", "object", "schedule")

CONFTEST = '''\
"""A real platform (documents, storage, events, the sandbox) for the tests of this folder.

It starts once per test session in a temporary data folder and stops at the end."""

import pytest

from baas_runtime.testing import Platform


@pytest.fixture(scope="session")
def platform():
    with Platform() as running:
        yield running
'''

HTTP_MAIN = '''\
"""Called by apps with `client.functions.invoke("{name}", {{"name": "Ada"}})`."""

from baas_runtime import logger, on_http


@on_http
def greet(event, ctx):
    name = (event["payload"] or {{}}).get("name") or "world"
    logger.info("greeting %s", name)
    return {{"message": f"Hello, {{name}}!", "version": ctx.version}}
'''

HTTP_TEST = """\
from pathlib import Path

HERE = Path(__file__).parent


def test_it_greets_by_name(platform):
    function = platform.deploy(HERE)

    answer = function.invoke({{"name": "Ada"}})

    assert answer["message"] == "Hello, Ada!"
    assert "greeting Ada" in function.last_invocation()["logs"]


def test_it_greets_the_world_without_a_name(platform):
    function = platform.deploy(HERE)

    assert function.invoke({{}})["message"] == "Hello, world!"
"""

DOCUMENT_MAIN = '''\
"""Runs each time a document is created in `orders`: writes its total to `order_totals`."""

from baas_runtime import db, logger, on_document_created


@on_document_created("orders")
def total(event, ctx):
    order = event["doc"]
    amount = sum(line["price"] * line["quantity"] for line in order["data"].get("lines", []))
    logger.info("order %s totals %s", event["key"], amount)
    # Keyed on the order: a retried event writes the same document again, never a second one.
    db.collection("order_totals").set(event["key"], {{"order": event["key"], "total": amount}})
'''

DOCUMENT_TEST = """\
from pathlib import Path

HERE = Path(__file__).parent


def test_a_new_order_gets_its_total(platform):
    orders = platform.collection("orders")
    platform.collection("order_totals")
    platform.deploy(HERE)

    order = orders.create({{"lines": [{{"price": 3, "quantity": 2}}, {{"price": 5, "quantity": 1}}]}})

    platform.wait_for_invocations("{name}", count=1)
    assert platform.document("order_totals", order["id"])["total"] == 11
"""

OBJECT_MAIN = '''\
"""Runs for each file uploaded under `inbox/` in the `uploads` bucket: stores a summary of it."""

from baas_runtime import db, on_object_created, storage


@on_object_created("uploads", prefix="inbox/")
def summarize(event, ctx):
    text = storage.read(event["bucket"], event["path"]).decode("utf-8", "replace")
    summary = {{"path": event["path"], "lines": len(text.splitlines()), "words": len(text.split())}}
    db.collection("file_summaries").set(ctx.event_id.replace(":", "-"), summary)
'''

OBJECT_TEST = """\
from pathlib import Path

HERE = Path(__file__).parent


def test_an_upload_gets_a_summary(platform):
    uploads = platform.bucket("uploads")
    platform.collection("file_summaries")
    platform.deploy(HERE)

    uploads.upload("inbox/notes.txt", b"one two\\nthree\\n", content_type="text/plain")

    platform.wait_for_invocations("{name}", count=1)
    (summary,) = platform.documents("file_summaries")
    assert summary["data"] == {{"path": "inbox/notes.txt", "lines": 2, "words": 3}}
"""

SCHEDULE_MAIN = '''\
"""Runs on a schedule (hourly by default): removes the `sessions` documents that have expired.

SWEEP_EVERY_SECONDS (baas.json "env") sets the interval; the test deploys it with 1 second."""

import os
import time

from baas_runtime import db, logger, on_schedule

EVERY = int(os.environ.get("SWEEP_EVERY_SECONDS", "3600"))


@on_schedule(every=EVERY)
def sweep(event, ctx):
    sessions = db.collection("sessions")
    expired = sessions.list(filter=f"expires_at < {{int(time.time())}}", limit=100)
    for session in expired:
        sessions.delete(session["id"])
    logger.info("removed %d expired sessions", len(expired))
'''

SCHEDULE_TEST = """\
import time
from pathlib import Path

HERE = Path(__file__).parent


def test_expired_sessions_are_swept(platform):
    sessions = platform.collection("sessions")
    old = sessions.create({{"expires_at": int(time.time()) - 60}})
    fresh = sessions.create({{"expires_at": int(time.time()) + 3600}})

    platform.deploy(HERE, env={{"SWEEP_EVERY_SECONDS": "1"}})

    platform.wait_for_invocations("{name}", count=1, timeout=30)
    remaining = {{doc["id"] for doc in platform.documents("sessions")}}
    assert old["id"] not in remaining and fresh["id"] in remaining
"""

_FILES: dict[str, tuple[str, str, list[str]]] = {
    # template: (main.py, test_main.py, permissions)
    "http": (HTTP_MAIN, HTTP_TEST, []),
    "document": (DOCUMENT_MAIN, DOCUMENT_TEST, ["db:read:orders", "db:write:order_totals"]),
    "object": (OBJECT_MAIN, OBJECT_TEST, ["storage:read:uploads", "db:write:file_summaries"]),
    "schedule": (SCHEDULE_MAIN, SCHEDULE_TEST, ["db:read:sessions", "db:write:sessions"]),
}


def files_of(template: str, name: str) -> dict[str, str]:
    """The files of a new function folder: path → text."""
    main, test, permissions = _FILES[template]
    manifest: dict[str, Any] = {"name": name, "entry": "main", "timeout": 10, "permissions": permissions}
    if template == "http":
        manifest["invoke"] = "authenticated"
    if template in ("document", "object"):
        manifest["max_retries"] = 3
    return {
        "main.py": main.format(name=name),
        "test_main.py": test.format(name=name),
        "conftest.py": CONFTEST,
        "baas.json": json.dumps(manifest, indent=2) + "\n",
        ".gitignore": "__pycache__/\n.pytest_cache/\n",
    }
