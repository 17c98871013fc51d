"""`baas webhooks …` as an operator uses it, against a real `baas dev` (its worker makes the HTTP
attempts) and a real endpoint on loopback: create (the secret printed once, then verified by the
endpoint), list, test, deliveries, a dead delivery retried, disable, delete."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BAAS_BIN
from tests.functions.cli_server import Server, serving
from tests.functions.webhook_receiver import Receiver, verify
from tests.platform.processes import http, platform_env, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The worker may deliver to the test's endpoint on loopback over plain HTTP, and retries soon.
    settings = {"WEBHOOKS_ALLOW_HTTP": "true", "WEBHOOKS_EGRESS_ALLOW": "127.0.0.1/32", "FUNCTIONS_RETRY_BASE_MS": "50"}
    with serving(tmp_path_factory.mktemp("whcli"), **settings) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def hooks(args: list[str], server: Server, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = platform_env(uuid.uuid4().hex, BAAS_URL=server.url, BAAS_SERVICE_KEY=server.key)
    env.pop("BAAS_DATA_DIR", None)
    command = [BAAS_BIN, "webhooks", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_every_subcommand_has_its_own_help_with_an_example(tmp_path: Path) -> None:
    env = platform_env(uuid.uuid4().hex)
    top = subprocess.run([BAAS_BIN, "webhooks", "--help"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert top.returncode == 0
    for command in ("create", "list", "deliveries", "retry", "test", "enable", "disable", "rotate-secret", "delete"):
        assert command in top.stdout
        shown = subprocess.run(
            [BAAS_BIN, "webhooks", command, "--help"], env=env, capture_output=True, text=True, cwd=tmp_path
        )
        assert shown.returncode == 0, shown.stderr
        assert f"example:\n  baas webhooks {command}" in shown.stdout


def test_create_deliver_fail_retry_and_delete(tmp_path: Path, server: Server, receiver: Receiver) -> None:
    assert http("POST", f"{server.url}/v1/db/collections", token=server.key, body={"name": "orders"})[0] == 201
    created = hooks(
        [
            "create",
            "crm",
            receiver.url(),
            "--collection",
            "orders",
            "--event",
            "document.created",
            "--max-retries",
            "0",
        ],
        server,
        tmp_path,
    )
    assert created.returncode == 0, created.stderr
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", created.stdout).group(0)  # type: ignore[union-attr]
    assert re.search(r"crm\s+on\s+collection orders\s+document.created", hooks(["list"], server, tmp_path).stdout)

    tested = hooks(["test", "crm"], server, tmp_path)
    assert tested.returncode == 0 and "succeeded: HTTP 200" in tested.stdout, tested.stdout + tested.stderr
    assert verify(secret, receiver.received[0].headers, receiver.received[0].body)

    receiver.answer(500)
    http("POST", f"{server.url}/v1/db/orders", token=server.key, body={"id": "o1", "data": {"total": 5}})
    assert wait_until(lambda: "dead" in hooks(["deliveries", "crm", "--status", "dead"], server, tmp_path).stdout, 30)
    dead = hooks(["deliveries", "crm", "--status", "dead"], server, tmp_path).stdout
    delivery_id = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", dead).group(0)  # type: ignore[union-attr]
    assert "500" in dead

    retried = hooks(["retry", delivery_id], server, tmp_path)
    assert retried.returncode == 0, retried.stderr
    received = receiver.wait_for(3)
    assert received[2].payload["data"]["key"] == "o1" and verify(secret, received[2].headers, received[2].body)
    assert received[1].headers["webhook-id"] == received[2].headers["webhook-id"]

    assert hooks(["disable", "crm"], server, tmp_path).returncode == 0
    assert re.search(r"crm\s+off", hooks(["list"], server, tmp_path).stdout)
    assert hooks(["delete", "crm"], server, tmp_path).returncode == 0
    gone = hooks(["deliveries", "crm"], server, tmp_path)
    assert gone.returncode == 1 and "(not_found)" in gone.stderr
