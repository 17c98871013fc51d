"""Running the pinned Deno (PyPI's `deno` package) offline from tests: its cache in a temporary
folder, no remote modules, nothing that is not cached already (`node:` built-ins need nothing)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import deno

DENO = deno.find_deno_bin()
OFFLINE = ["--no-remote", "--cached-only"]


def deno_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DENO_", "RUST_BACKTRACE"))}
    env.update(DENO_DIR=str(tmp / "deno-cache"), DENO_NO_UPDATE_CHECK="1", NO_COLOR="1")
    return env


def run_deno(args: list[str], cwd: Path, tmp: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`deno check|test|fmt|lint …` (check and test offline); its output in `.stdout + .stderr`."""
    command, rest = args[0], args[1:]
    offline = OFFLINE if command in ("check", "test") else []  # fmt and lint load no modules
    no_prompt = ["--no-prompt"] if command == "test" else []  # a permission asked for is refused
    return subprocess.run(
        [DENO, command, *offline, *no_prompt, *rest],
        cwd=cwd,
        env=deno_env(tmp),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
