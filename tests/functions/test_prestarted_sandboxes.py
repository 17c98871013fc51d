"""Pre-started sandboxes (functions/sandbox/zygote.py): a version given one runs with its own files,
environment and limits only, exactly as in a sandbox started for it, and a zygote serves once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from functions.sandbox.process import SandboxSpec

pytestmark = pytest.mark.slow  # starts sandboxes (tests/process_level.py)

PROBE = """
import os
from baas_runtime import on_http

@on_http
def probe(event, ctx):
    if event.get("allocate_mb"):
        try:
            block = bytearray(event["allocate_mb"] * 1024 * 1024)
        except MemoryError:
            return "MemoryError"
        return len(block)
    return {"files": sorted(os.listdir("/function")), "env": dict(os.environ), "uid": os.getuid()}
"""


def _spec(tmp_name: str, *, memory: int, env: dict[str, str], files: dict[str, bytes]) -> SandboxSpec:
    from functions import services
    from functions.models import FunctionVersion
    from functions.sandbox.paths import code_dir

    limits = services.limits_for(FunctionVersion(timeout=5, memory=memory))
    folder = code_dir(tmp_name, files)
    return SandboxSpec(key=tmp_name, code_dir=folder, entry="main", env=env, network="none", limits=limits)


def _run(sandbox: Any, event: dict[str, Any]) -> Any:
    outcome = sandbox.invoke(handler="probe", event=event, ctx={}, timeout=5, on_call=lambda m, a: {})
    assert outcome.ok, outcome.error
    return outcome.value


@pytest.fixture
def keeper(settings: Any) -> Any:
    from functions.sandbox import isolation, zygote

    if isolation().NAME != "bubblewrap":
        pytest.fail("these tests need bubblewrap")
    settings.FUNCTIONS_ZYGOTES = 1
    zygote.prepare(isolation())
    deadline = time.monotonic() + 10
    keeper = zygote._keeper(isolation())
    while keeper._missing() > 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert keeper._missing() == 0, "no sandbox was pre-started"
    return keeper


def test_a_zygote_runs_a_version_with_its_own_files_env_and_limits(keeper: Any) -> None:
    from functions.sandbox import isolation, zygote
    from functions.sandbox.bubblewrap import _cgroup_roots

    files = {"main.py": PROBE.encode(), "data/extra.txt": b"x"}
    spec = _spec("zygote-probe-a", memory=96, env={"ONLY_MINE": "a"}, files=files)
    sandbox = zygote.start(spec, isolation())
    try:
        assert isinstance(getattr(sandbox, "slot", None), Path), "expected a pre-started sandbox"
        seen = _run(sandbox, {})
        assert seen["files"] == ["data", "main.py"]
        assert seen["env"] == {"ONLY_MINE": "a"}
        assert seen["uid"] == 65534
        # The address-space limit is the version's 96 MB, not the zygote's (the maximum).
        assert _run(sandbox, {"allocate_mb": 200}) == "MemoryError"
        assert _run(sandbox, {"allocate_mb": 16}) == 16 * 1024 * 1024
        if "memory" in _cgroup_roots():  # the cgroup limit was rewritten for the version too
            memory_group = sandbox._launch.cleanup.__self__.paths["memory"]
            expected = 96 * 1024 * 1024 * 2 + spec.limits.tmp_bytes
            assert int((memory_group / "memory.limit_in_bytes").read_text()) == expected
        slot = sandbox.slot
    finally:
        sandbox.kill()
    assert not slot.exists()  # the slot goes with its sandbox


def test_a_zygote_serves_one_version_once(keeper: Any) -> None:
    from functions.sandbox import isolation, zygote

    first = zygote.start(_spec("zygote-once-a", memory=128, env={}, files={"main.py": PROBE.encode()}), isolation())
    deadline = time.monotonic() + 10
    while keeper._missing() > 0 and time.monotonic() < deadline:  # refilled in the background
        time.sleep(0.02)
    other = {"main.py": PROBE.encode(), "b_only.py": b""}
    second = zygote.start(_spec("zygote-once-b", memory=128, env={}, files=other), isolation())
    try:
        assert first.slot != second.slot
        assert first._process.pid != second._process.pid
        assert _run(first, {})["files"] == ["main.py"]
        assert _run(second, {})["files"] == ["b_only.py", "main.py"]
    finally:
        first.kill()
        second.kill()
