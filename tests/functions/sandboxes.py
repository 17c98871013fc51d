"""Helpers for tests that drive real bubblewrap sandboxes directly (no worker, no database):
start one for a piece of function source, invoke its handler, kill it afterwards."""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from functions.sandbox.process import Outcome, SandboxProcess, SandboxSpec


def bubblewrap() -> Any:
    from functions.sandbox import bubblewrap as kind
    from functions.sandbox import isolation

    if isolation().NAME != "bubblewrap":
        pytest.fail("these tests need bubblewrap (scripts/bootstrap installs it)")
    return kind


def spec_for(source: str, *, network: str = "none", timeout: int = 5, memory: int = 128) -> SandboxSpec:
    from functions import services
    from functions.models import FunctionVersion
    from functions.sandbox.paths import code_dir

    files = {"main.py": textwrap.dedent(source).encode()}
    digest = hashlib.sha256(files["main.py"] + network.encode()).hexdigest()[:32]
    limits = services.limits_for(FunctionVersion(timeout=timeout, memory=memory))
    return SandboxSpec(
        key=f"test-{digest}", code_dir=code_dir(digest, files), entry="main", env={}, network=network, limits=limits
    )


@contextmanager
def sandbox(source: str, **options: Any) -> Iterator[SandboxProcess]:
    """A started sandbox (fresh, not pre-started) with `source` as its main.py."""
    process = SandboxProcess(spec_for(source, **options), bubblewrap())
    process.start()
    try:
        yield process
    finally:
        process.kill()


def call(process: SandboxProcess, event: dict[str, Any], handler: str = "probe", timeout: float = 10) -> Outcome:
    return process.invoke(handler=handler, event=event, ctx={}, timeout=timeout, on_call=lambda method, args: {})


def value(process: SandboxProcess, event: dict[str, Any], handler: str = "probe", timeout: float = 10) -> Any:
    outcome = call(process, event, handler, timeout)
    assert outcome.ok, (outcome.error, outcome.logs)
    return outcome.value
