"""The Deno binary comes from the `deno` package, inside the virtualenv: when that lies under a
private folder (a 0700 home, a `mktemp -d` clone), bubblewrap, which opens what it binds as the
sandbox's user, could not reach it and every TypeScript sandbox failed to start. The sandbox then
binds a link or copy in the sandbox root instead."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from functions.sandbox.paths import reachable_by_sandboxes

pytestmark = pytest.mark.slow  # runs a program as the sandbox's user


def run_as_sandbox_user(program: Path) -> int:
    uid = settings.FUNCTIONS_SANDBOX_UID
    try:
        return subprocess.run([str(program)], user=uid, group=uid, extra_groups=[], check=False).returncode
    except PermissionError:
        return -1


def test_a_binary_under_a_private_folder_is_bound_from_a_reachable_copy(tmp_path: Path) -> None:
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    binary = private / ".venv" / "true"
    binary.parent.mkdir()
    shutil.copy2(shutil.which("true") or "/bin/true", binary)
    assert run_as_sandbox_user(binary) == -1  # what bubblewrap met

    reachable = reachable_by_sandboxes(binary)
    assert reachable != binary and reachable.read_bytes() == binary.read_bytes()
    assert reachable.stat().st_mode & stat.S_IXOTH
    assert run_as_sandbox_user(reachable) == 0
    assert reachable_by_sandboxes(binary) == reachable  # once


def test_a_binary_the_sandbox_user_reaches_is_used_where_it_is() -> None:
    true = Path(shutil.which("true") or "/bin/true").resolve()
    assert reachable_by_sandboxes(true) == true
