"""Deno for TypeScript and JavaScript functions: where the binary is, which files a Deno entry may
be, and `deno check`'s output read into file, line and column.

Deno comes from PyPI (the `deno` package, pinned in pyproject.toml), so installing baas brings it.
The sandbox itself is the same as Python's (bubblewrap.py, unsafe_local.py); the launcher inside
is baas_runtime/_deno_launch.py and the runtime baas_runtime/deno/runtime.ts.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

# Extensions of a Deno entry (and of the files `deno check` reads).
EXTENSIONS = (".ts", ".mts", ".js", ".mjs")
DEFAULT_ENTRIES = tuple(f"main{extension}" for extension in EXTENSIONS)
# Where the binary appears inside a bubblewrap sandbox (bound read-only).
SANDBOX_BINARY = "/opt/deno/deno"

_LOCATION = re.compile(r"at (file://\S+?):(\d+):(\d+)")
_CODE = re.compile(r"^(?:error: )?(TS\d+) \[ERROR\]: (.*)$")


@lru_cache(maxsize=1)
def binary() -> Path:
    """The deno executable (the `deno` package's own; its real path, to bind into sandboxes).
    Raises FileNotFoundError saying how to install it."""
    try:
        import deno  # the PyPI redistribution of Deno's binaries

        path = Path(os.path.realpath(deno.find_deno_bin()))
    except (ImportError, OSError) as exc:
        raise FileNotFoundError(
            f"Deno is not installed ({exc}): `pip install deno` (pinned in baas's dependencies)"
        ) from None
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"Deno at {path} is not executable")
    return path


def check_diagnostics(output: str, code_dir: str) -> list[dict[str, Any]]:
    """`deno check` (or a load) output → [{file, line, column, message, code}], files relative to the
    bundle. Deno prints each problem as a message line (`TS2322 [ERROR]: …` or `error: …`), the
    source line, a marker and `at file:///…:LINE:COLUMN`."""
    diagnostics: list[dict[str, Any]] = []
    message, code = "", None
    prefix = "file://" + code_dir.rstrip("/") + "/"
    for line in output.splitlines():
        stripped = line.strip()
        matched = _CODE.match(stripped)
        if matched:
            code, message = matched.group(1), matched.group(2)
            continue
        if stripped.startswith("error: ") and not stripped.startswith("error: Type checking failed"):
            code, message = None, stripped.removeprefix("error: ")
            continue
        located = _LOCATION.search(stripped)
        if located and message:
            url = located.group(1)
            diagnostics.append(
                {
                    "file": url.removeprefix(prefix) if url.startswith(prefix) else url,
                    "line": int(located.group(2)),
                    "column": int(located.group(3)),
                    "message": message,
                    "code": code,
                }
            )
            message, code = "", None
    return diagnostics


def deno_check_error(output: str, code_dir: str) -> dict[str, Any]:
    """The load error of a failed `deno check`: the first problem as its message, all of them as
    `diagnostics`, Deno's own text as the traceback."""
    diagnostics = check_diagnostics(output, code_dir)
    text = output.replace("file://" + code_dir.rstrip("/") + "/", "")
    if diagnostics:
        first = diagnostics[0]
        message = f"{first['file']}:{first['line']}:{first['column']}: {first['message']}"
        if len(diagnostics) > 1:
            message += f" (and {len(diagnostics) - 1} more)"
    else:
        message = next((line for line in text.splitlines() if line.strip()), "deno check failed")
    return {"type": "TypeCheckError", "message": message[:2000], "traceback": text[-16000:], "diagnostics": diagnostics}
