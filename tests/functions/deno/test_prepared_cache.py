"""The prepared compile cache of a Deno version (functions/sandbox/deno.py): the first sandbox of a
version on a machine transpiles before any function code runs and the worker keeps the result;
every later sandbox of the version runs from it, read-only, instead of loading the transpiler."""

from __future__ import annotations

import os

import pytest

from functions.sandbox import deno
from functions.sandbox.paths import runtime_parent
from functions.sandbox.process import SandboxProcess, _descendants
from tests.functions.deno.test_deno_sandbox import call, spec_for
from tests.functions.sandboxes import bubblewrap

pytestmark = pytest.mark.slow  # starts sandboxes (tests/process_level.py)

SOURCE = """
import { onHttp } from "baas";

export const probe = onHttp((event) => ({ echoed: event.payload ?? null }));
"""


def deno_pid(process: SandboxProcess) -> int:
    assert process._process is not None
    tree = _descendants(process._process.pid, None)
    return next(pid for pid in tree if os.readlink(f"/proc/{pid}/exe").endswith("/deno"))


def test_later_sandboxes_of_a_version_run_from_the_first_ones_transpiled_code() -> None:
    spec = spec_for(SOURCE)
    folder = deno.prepared_folder(spec.code_dir, runtime_parent())
    assert not folder.exists()
    first = SandboxProcess(spec, bubblewrap())
    first.start()
    try:
        assert call(first, {"payload": 1}).value == {"echoed": 1}
    finally:
        first.kill()
    kept = sorted(str(path.relative_to(folder)) for path in folder.rglob("*.js"))
    assert kept == [
        "gen/file/function/main.ts.js",
        "gen/file/opt/baas/baas_runtime/deno/mod.ts.js",
        "gen/file/opt/baas/baas_runtime/deno/runtime.ts.js",
    ]
    assert (folder / deno.MODULE_INFO).is_file()
    second = SandboxProcess(spec, bubblewrap())
    second.start()
    try:
        assert call(second, {"payload": 2}).value == {"echoed": 2}
        # The runtime (the sandbox's deno process) finds the kept cache in its DENO_DIR, read-only.
        assert os.readlink(f"/proc/{deno_pid(second)}/root/tmp/.deno/cache/gen") == "/opt/deno-gen/gen"
    finally:
        second.kill()


def test_a_deploys_type_check_starts_from_the_machines_seed_not_from_another_function(functions_api) -> None:
    from tests.functions.deno.test_deno_functions import deploy_ts

    folder = deno.check_seed_folder(runtime_parent())
    response = deploy_ts(functions_api, "seeded", SOURCE)
    assert response.status_code == 201, response.json()
    # Made once per machine from baas's own seed function, never from a deployed one.
    assert sorted(path.name for path in folder.iterdir()) == sorted(deno.CHECK_SEED_FILES)
    made = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    info = (folder / "check_cache_v2").read_bytes()
    assert b"SOURCE" not in info and b"echoed" not in info
    broken = deploy_ts(functions_api, "seeded", SOURCE.replace("payload ?? null", "payload.nope.nope"))
    assert broken.status_code == 400 and broken.json()["error"]["details"]["diagnostics"], broken.json()
    assert {path.name: path.stat().st_mtime_ns for path in folder.iterdir()} == made  # used, not rewritten
