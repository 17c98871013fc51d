"""Unpacked bundle folders of deleted functions and superseded versions are removed, never one
that is active, among the last FUNCTIONS_BUNDLE_KEEP_VERSIONS, or in use by a live sandbox."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functions.conftest import deploy

SOURCE = """
from baas_runtime import on_http

@on_http
def handler(event, ctx):
    return {{"version": {n}}}
"""


@pytest.fixture(autouse=True)
def private_sandbox_root(settings: Any) -> Iterator[Path]:
    """A sandbox folder of this test's own. The xdist workers share one data folder but not one
    database, and the cleaner removes every bundle folder its database does not know: on the
    shared folder it would remove the one another worker's deploy has just unpacked."""
    from functions.sandbox import paths

    root = Path(tempfile.mkdtemp(prefix="baas-sandbox-test-"))
    root.chmod(0o711)  # the sandbox's uid passes through to the bundle folders
    settings.FUNCTIONS_SANDBOX_DIR = str(root)
    paths.sandbox_root.cache_clear()
    yield root
    paths.sandbox_root.cache_clear()  # back to the shared folder once the setting is restored


def _digests(client: Any, name: str) -> dict[int, str]:
    items = client.get(f"/v1/functions/{name}/versions?limit=100").json()["items"]
    return {item["version"]: item["digest"] for item in items}


def _on_disk() -> set[str]:
    from functions.sandbox.paths import code_root

    return {folder.name for folder in code_root().iterdir() if not folder.name.startswith(".")}


def test_old_and_deleted_bundles_go_kept_and_leased_ones_stay(functions_api: Any, settings: Any) -> None:
    from functions import services
    from functions.models import FunctionVersion
    from functions.sandbox import isolation
    from functions.sandbox.process import SandboxProcess

    settings.FUNCTIONS_BUNDLE_KEEP_VERSIONS = 2
    for n in range(1, 6):
        assert deploy(functions_api, "kept", SOURCE.format(n=n)).status_code == 201
    assert functions_api.post("/v1/functions/kept/rollback", {"version": 1}, format="json").status_code == 200
    assert deploy(functions_api, "busy", SOURCE.format(n=100)).status_code == 201
    assert deploy(functions_api, "gone", SOURCE.format(n=200)).status_code == 201
    kept, busy, gone = _digests(functions_api, "kept"), _digests(functions_api, "busy"), _digests(functions_api, "gone")
    assert set(kept.values()) | set(busy.values()) | set(gone.values()) <= _on_disk()  # deploys unpacked them

    # A sandbox of "busy" runs while the function is deleted: its folder must stay while it lives.
    version = FunctionVersion.objects.select_related("function").get(function__name="busy")
    sandbox = SandboxProcess(services.spec_for(version), isolation())
    sandbox.start()
    try:
        assert functions_api.delete("/v1/functions/busy").status_code == 204
        assert functions_api.delete("/v1/functions/gone").status_code == 204
        removed = set(services.clean_bundle_folders(min_age_seconds=0))
        on_disk = _on_disk()
        # Active (the rolled-back-to v1) and the last two versions stay; v2, v3 and "gone" go.
        assert {kept[1], kept[4], kept[5]} <= on_disk
        assert {kept[2], kept[3], gone[1]} <= removed  # (with any earlier test's, gone from the database)
        assert not removed & on_disk
        assert busy[1] in on_disk  # leased by the live sandbox
        outcome = sandbox.invoke(handler="handler", event={}, ctx={}, timeout=5, on_call=lambda m, a: {})
        assert outcome.ok and outcome.value == {"version": 100}
    finally:
        sandbox.kill()
    assert busy[1] in services.clean_bundle_folders(min_age_seconds=0)  # the sandbox is gone now
    assert busy[1] not in _on_disk()

    # A removed folder comes back from the stored bundle when its version is needed again.
    old = FunctionVersion.objects.select_related("function").get(function__name="kept", number=2)
    sandbox = SandboxProcess(services.spec_for(old), isolation())
    try:
        sandbox.start()
        outcome = sandbox.invoke(handler="handler", event={}, ctx={}, timeout=5, on_call=lambda m, a: {})
        assert outcome.ok and outcome.value == {"version": 2}
    finally:
        sandbox.kill()


def test_a_folder_removed_between_lookup_and_start_is_written_again(functions_api: Any) -> None:
    """The cleaner may run after a worker resolved a version's folder but before the sandbox
    starts: the start writes the folder again instead of failing."""
    import shutil

    from functions import services
    from functions.models import FunctionVersion
    from functions.sandbox import isolation
    from functions.sandbox.process import SandboxProcess

    assert deploy(functions_api, "raced", SOURCE.format(n=7)).status_code == 201
    version = FunctionVersion.objects.select_related("function").get(function__name="raced")
    spec = services.spec_for(version)
    shutil.rmtree(spec.code_dir)
    sandbox = SandboxProcess(spec, isolation())
    try:
        sandbox.start()
        outcome = sandbox.invoke(handler="handler", event={}, ctx={}, timeout=5, on_call=lambda m, a: {})
        assert outcome.ok and outcome.value == {"version": 7}
    finally:
        sandbox.kill()
