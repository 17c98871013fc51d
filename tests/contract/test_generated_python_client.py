"""A client generated from `/v1/schema` by openapi-python-client works against a live server: it
signs up, creates a document, lists and reads it back, decodes an error as the `Error` envelope,
and deletes on a condition (`If-Match`).

This is what "the schema is the contract" means for a user who never touches our SDKs: generate a
client, call it, and get typed answers. The generator must report nothing either; a warning means
some operation or answer would be missing from the client."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.platform.processes import http
from tests.realtime.conftest import Server, prepare, stack_env, start_server

# Generating runs a process (the generator, then ruff on its output), and the server is one.
pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
# An object's download answers with the object's own type (`*/*`); the generator reads only named
# types, so it gets that answer as bytes (the only thing a generic client can do with it anyway).
GENERATOR_CONFIG = 'content_type_overrides:\n  "*/*": application/octet-stream\n'
OPEN = {"read": "auth != null", "create": "auth != null", "update": "auth != null", "delete": "auth != null"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, live: Server) -> Iterator[ModuleType]:
    """The package generated from the live server's `/v1/schema`, imported under a name of its own."""
    folder = tmp_path_factory.mktemp("generated")
    status, schema = http("GET", f"{live.base}/v1/schema")
    assert status == 200
    (folder / "openapi.json").write_text(json.dumps(schema))
    (folder / "config.yaml").write_text(GENERATOR_CONFIG)
    package = f"baas_generated_{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [
            BIN / "openapi-python-client",
            "generate",
            "--path",
            "openapi.json",
            "--config",
            "config.yaml",
            "--meta",
            "none",
            "--output-path",
            package,
        ],
        cwd=folder,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},  # it runs ruff
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(package)
    finally:
        sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    for env in stack_env(tmp_path_factory.mktemp("generated-live")):
        running = start_server(prepare(env))
        try:
            running.rest("POST", "/v1/db/collections", {"name": "notes", "rules": OPEN})
            yield running
        finally:
            running.process.stop()


def part(api: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{api.__name__}.{name}")


def test_a_generated_client_signs_up_creates_lists_and_reads_a_document(api: ModuleType, live: Server) -> None:
    models = part(api, "models")
    sign_up = part(api, "api.auth.auth_sign_up")
    create = part(api, "api.documents.documents_create")
    listing = part(api, "api.documents.documents_list")
    get = part(api, "api.documents.documents_get")
    delete = part(api, "api.documents.documents_delete")

    email = f"gen{uuid.uuid4().hex[:10]}@example.com"
    with api.Client(base_url=live.base, raise_on_unexpected_status=True) as anonymous:
        answer = sign_up.sync_detailed(
            client=anonymous, body=models.SignupRequest(email=email, password="a fine long passphrase")
        )
    assert answer.status_code == 201
    session = answer.parsed
    assert isinstance(session, models.Session)
    assert session.user.email == email and session.access

    with api.AuthenticatedClient(base_url=live.base, token=session.access, raise_on_unexpected_status=True) as user:
        data = models.DocumentCreateData.from_dict({"title": "hello", "tags": ["a", "b"]})
        created = create.sync_detailed("notes", client=user, body=models.DocumentCreate(data=data))
        assert created.status_code == 201
        document = created.parsed
        assert isinstance(document, models.Document)
        assert document.version == 1 and document.owner == str(session.user.id)
        assert created.headers["ETag"] == '"1"'

        page = listing.sync("notes", client=user, limit=10)
        assert isinstance(page, models.DocumentPage)
        assert [item.id for item in page.items] == [document.id]
        assert page.next_cursor is None

        read = get.sync("notes", document.id, client=user)
        assert isinstance(read, models.Document)
        assert read.data.to_dict() == {"title": "hello", "tags": ["a", "b"]}
        assert read.created_at == document.created_at

        missing = get.sync_detailed("notes", "nothing-here", client=user)
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.Error)
        assert missing.parsed.error.code == "not_found"

        stale = delete.sync_detailed("notes", document.id, client=user, if_match='"7"')
        assert stale.status_code == 412
        assert isinstance(stale.parsed, models.Error)  # 412 falls under `default`: the same envelope
        assert stale.parsed.error.code == "precondition_failed"
        assert delete.sync_detailed("notes", document.id, client=user, if_match='"1"').status_code == 204
