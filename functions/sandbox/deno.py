"""Deno for TypeScript and JavaScript functions: where the binary is, which files a Deno entry may
be, and `deno check`'s output read into file, line and column.

Deno comes from PyPI (the `deno` package, pinned in pyproject.toml), so installing baas brings it.
The sandbox itself is the same as Python's (bubblewrap.py, unsafe_local.py); the launcher inside
is baas_runtime/_deno_launch.py and the runtime baas_runtime/deno/runtime.ts.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from functions.sandbox import paths

# Extensions of a Deno entry (and of the files `deno check` reads).
EXTENSIONS = (".ts", ".mts", ".js", ".mjs")
DEFAULT_ENTRIES = tuple(f"main{extension}" for extension in EXTENSIONS)
# Where the binary appears inside a bubblewrap sandbox (bound read-only).
SANDBOX_BINARY = "/opt/deno/deno"

# Where a version's prepared compile cache (Deno's `gen/` folder: the runtime's and the function's
# TypeScript already transpiled) appears inside a sandbox, read-only.
SANDBOX_PREPARED = "/opt/deno-gen"
# More than this is not kept (each warm process then transpiles for itself, as without a cache).
PREPARED_MAX_BYTES = 8 * 1024 * 1024
MODULE_INFO = "dep_analysis_cache_v2"  # Deno's parsed imports of each module (a SQLite database)

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


# --- the prepared compile cache -----------------------------------------------------------------------
# `deno run` parses every module it loads to find its imports (runtime.ts, mod.ts, the function's
# files) and transpiles the TypeScript ones, keeping both results in DENO_DIR (the module-info
# database, gen/). A sandbox's DENO_DIR is a tmpfs of its own, so every warm process paid for the
# parser and transpiler again: ~3 MiB of RSS that stays (their code pages and the allocator's
# arenas) and tens of ms of start. So the first sandbox of a version on a machine has its launcher
# fill both before any function code runs (`deno install --entrypoint`: loads and transpiles, runs
# nothing) and hand them to the worker in a `prepared` frame; the worker keeps them here, and every
# later sandbox of that version gets them read-only at SANDBOX_PREPARED. Deno checks each cached
# entry against a hash of its source and options and redoes the work on a mismatch, so a stale or
# missing file costs memory, never correctness.


def _runtime_tag(runtime_dir: Path) -> str:
    """The runtime copy and the Deno binary, which the cached paths and hashes depend on."""
    facts = binary().stat()
    return hashlib.sha256(f"{runtime_dir.name}\0{facts.st_size}\0{facts.st_mtime_ns}".encode()).hexdigest()[:12]


def prepared_folder(code_dir: Path, runtime_dir: Path) -> Path:
    """The host folder of one version's prepared cache: named by its bundle folder (content-addressed)
    and the runtime's tag."""
    return paths.sandbox_root() / "deno-gen" / f"{code_dir.name}-{_runtime_tag(runtime_dir)}"


def store_prepared(folder: Path, files: Any) -> None:
    """Keep the launcher's prepared cache ({relative path: base64}: gen/'s .js files and the
    module-info database) in `folder`, written once (atomically). Anything else makes the whole lot
    ignored: it came from our launcher before any function code ran, so an odd entry means a Deno
    that files its cache differently, and no cache is better than a wrong one."""

    def expected(name: str) -> bool:
        return name == MODULE_INFO or (name.startswith("gen/") and name.endswith((".js", ".map")))

    _store(folder, files, expected, folders=("gen",))  # gen/ even if empty: later sandboxes link it


def _store(folder: Path, files: Any, expected: Callable[[str], bool], folders: tuple[str, ...] = ()) -> None:
    if folder.exists() or not isinstance(files, dict):
        return
    decoded: dict[str, bytes] = {}
    for name, text in files.items():
        if not isinstance(name, str) or not isinstance(text, str) or not expected(name):
            return
        if any(part in ("", ".", "..") or "\0" in part for part in name.split("/")):
            return
        try:
            decoded[name] = base64.b64decode(text, validate=True)
        except ValueError:
            return
    if sum(len(data) for data in decoded.values()) > PREPARED_MAX_BYTES:
        return
    folder.parent.mkdir(mode=0o711, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".staging-"))
    for name, data in decoded.items():
        path = staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for name in folders:
        (staging / name).mkdir(exist_ok=True)
    paths.make_readable(staging)
    try:
        os.rename(staging, folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another process stored it first


def remove_prepared(keep: set[str], *, min_age_seconds: float) -> None:
    """Prepared caches of bundle folders no longer in use (`keep`: their digests); written again
    by the next sandbox of the version if it comes back."""
    root = paths.sandbox_root() / "deno-gen"
    if not root.is_dir():
        return
    now = time.time()
    for folder in root.iterdir():
        digest = folder.name.rsplit("-", 1)[0]
        try:
            recent = now - folder.stat().st_mtime < min_age_seconds
        except FileNotFoundError:
            continue
        if not recent and (digest not in keep or folder.name.startswith(".")):
            shutil.rmtree(folder, ignore_errors=True)


# --- the type checker's seed --------------------------------------------------------------------------------
# `deno check` runs TypeScript's compiler, which starts from nothing in a deploy's fresh DENO_DIR:
# ~1.2 s of CPU for a small function, most of it on Deno's libraries and the baas module, which are
# the same for every function. Deno keeps TypeScript's incremental build info per root module
# (`check_cache_v2`, for `file:///function/<entry>`) and V8's compiled code of the compiler
# (`v8_code_cache_v2`); given both from an earlier check, TypeScript only checks what changed:
# ~20 % less CPU and ~30 MiB less memory for a small function. They must not come from another
# function (the build info describes its files), so they come from checking this fixed function, once
# per machine and runtime, in a sandbox like any other (functions/dependencies.py,
# ensure_check_seed); every deploy's check then starts from a copy.
SANDBOX_CHECK_SEED = "/opt/deno-check"
CHECK_SEED_FILES = ("check_cache_v2", "v8_code_cache_v2")
SEED_FUNCTION = 'import { onHttp } from "baas";\n\nexport const seed = onHttp((event) => event.payload);\n'


def check_seed_folder(runtime_dir: Path) -> Path:
    return paths.sandbox_root() / "deno-check" / _runtime_tag(runtime_dir)


def store_check_seed(folder: Path, files: Any) -> None:
    """Keep the seed's files ({name: base64}, CHECK_SEED_FILES only) in `folder`, once (atomically)."""
    _store(folder, files, lambda name: name in CHECK_SEED_FILES)


def remove_stale_check_seeds(runtime_dir: Path, *, min_age_seconds: float) -> list[str]:
    """Remove the check seeds of other runtime copies or Deno binaries (each upgrade leaves one
    behind), unless a deploy's check holds a lease on one (functions/sandbox/process.py) or it
    changed in the last `min_age_seconds` (made by a process still running the code from before an
    upgrade, which takes no lease). The current seed always stays. Returns the removed tags."""
    root = paths.sandbox_root() / "deno-check"
    if not root.is_dir():
        return []
    try:
        current = _runtime_tag(runtime_dir)
    except FileNotFoundError:  # no Deno here: no seed is in use, but none is known to be stale either
        return []
    removed, now = [], time.time()
    for folder in root.iterdir():
        try:
            recent = now - folder.stat().st_mtime < min_age_seconds
        except FileNotFoundError:
            continue
        if recent or folder.name == current:
            continue
        if folder.name.startswith("."):  # a staging or trash folder a killed process left behind
            shutil.rmtree(folder, ignore_errors=True)
        elif paths.remove_unleased(folder):
            removed.append(folder.name)
    return removed
