"""The Deno type checker's seed is kept per runtime copy and Deno binary (deno-check/<tag>,
functions/sandbox/deno.py), so each upgrade leaves the previous one behind: the bundle cleaner
removes those, never the current one, one a deploy's check is using, or one made moments ago."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.sandbox import deno, paths
from functions.sandbox.process import SandboxProcess
from tests.functions.deno.test_deno_sandbox import ECHO_TS, spec_for
from tests.functions.sandboxes import bubblewrap


@pytest.fixture(autouse=True)
def private_sandbox_root(settings: Any) -> Iterator[Path]:
    """A sandbox folder of this test's own: the cleaner removes whatever it finds stale, and other
    xdist workers share the default one."""
    root = Path(tempfile.mkdtemp(prefix="baas-sandbox-test-"))
    root.chmod(0o711)  # the sandbox's uid passes through to the folders bound into it
    settings.FUNCTIONS_SANDBOX_DIR = str(root)
    paths.sandbox_root.cache_clear()
    yield root
    paths.sandbox_root.cache_clear()


def make_seed(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in deno.CHECK_SEED_FILES:
        (folder / name).write_bytes(b"seed")
    return folder


@pytest.mark.django_db
def test_the_cleaner_removes_the_seeds_of_earlier_runtimes_but_not_a_leased_one() -> None:
    from functions import services

    current = make_seed(deno.check_seed_folder(paths.runtime_parent()))
    earlier, in_use = make_seed(current.with_name("0123456789ab")), make_seed(current.with_name("ba9876543210"))
    lease = paths.lease(in_use)
    assert lease is not None
    try:
        services.clean_bundle_folders(min_age_seconds=0)
        assert not earlier.exists()
        assert in_use.is_dir() and current.is_dir()
    finally:
        os.close(lease)
    services.clean_bundle_folders(min_age_seconds=0)
    assert not in_use.exists()
    assert sorted(path.name for path in current.iterdir()) == sorted(deno.CHECK_SEED_FILES)


@pytest.mark.django_db
def test_a_seed_made_moments_ago_stays_even_if_it_is_not_the_current_one() -> None:
    """A process still running the code from before an upgrade (which takes no lease) may have just
    made it, for the check it is about to run."""
    from functions import services

    young = make_seed(deno.check_seed_folder(paths.runtime_parent()).with_name("0123456789ab"))
    services.clean_bundle_folders()
    assert young.is_dir()


@pytest.mark.slow  # starts a sandbox (tests/process_level.py)
def test_a_deploys_check_holds_its_seed_until_its_sandbox_is_gone() -> None:
    """After an upgrade (another runtime copy, so another tag) the seed a running check was started
    with is stale, and stays until that check's sandbox is gone."""
    seed = make_seed(deno.check_seed_folder(paths.runtime_parent()))
    upgraded = paths.runtime_parent().with_name("upgraded")  # only its name goes into the tag
    process = SandboxProcess(dataclasses.replace(spec_for(ECHO_TS), check=True), bubblewrap())
    process.spawn()
    try:
        assert deno.remove_stale_check_seeds(upgraded, min_age_seconds=0) == []
        assert seed.is_dir()
    finally:
        process.kill()
    assert deno.remove_stale_check_seeds(upgraded, min_age_seconds=0) == [seed.name]
    assert not seed.exists()
