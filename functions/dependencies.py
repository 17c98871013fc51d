"""Dependencies of TypeScript / JavaScript functions: `npm:` and `jsr:` imports resolved at deploy.

A bundle whose sources (or deno.json `imports`) name npm:, jsr: or URL modules gets a build step
before its trigger discovery: a bubblewrap sandbox (never the host) runs `deno install` on the entry
with an empty DENO_DIR on its own tmpfs, its network only a filtering proxy that lets through the
configured package registries (FUNCTIONS_PACKAGE_REGISTRIES) and nothing else, then `deno check`s
against what it fetched, and leaves the cache's package folders (`npm/`, `remote/`) as one zip in a
host folder bound in for that purpose (baas_runtime/_deno_launch.py, `_build`). No lifecycle script
runs (Deno runs them only with --allow-scripts, which is never given) and no function code runs.

Why a DENO_DIR cache rather than a vendor / node_modules folder: it is exactly what `deno run
--cached-only` reads, needs no deno.json or package.json from the author, and npm packages stay
unpacked once per version. Deno files npm packages under the registry's host, so the registry URLs
are stored beside them (`registries.json`) and set again when the version runs.

The zip is stored with the version (FunctionVersion.dependencies) like its bundle, so any worker on
any machine can run it: the version's folder is its files plus the cache under `.deps/`, written
from the database like any bundle folder (functions/sandbox/paths.py) and named by the digest of
both, so two versions never share a cache unless it is identical. Invocations link that folder
into a private DENO_DIR read-only and run with --cached-only: nothing is downloaded at run time.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings

from functions import bundles
from functions.errors import DeployFailed
from functions.sandbox import deno, isolation
from functions.sandbox.deno import check_diagnostics, deno_check_error
from functions.sandbox.paths import code_dir, runtime_parent, sandbox_root
from functions.sandbox.process import DENO, DENO_CHECK_MEMORY_MB, Limits, SandboxFailure, SandboxProcess, SandboxSpec

FOLDER = ".deps"  # in a version's folder (baas_runtime/_deno_launch.py DEPENDENCIES)
BUILD_ZIP = "deps.zip"
logger = logging.getLogger("baas.functions.sandbox")
_NOISE = re.compile(r"^(Stack backtrace:|\s+\d+: <unknown>)\s*$")


def needed(files: dict[str, bytes]) -> bool:
    """Whether a Deno bundle imports anything to download (npm:, jsr:, URL imports)."""
    return bool(bundles.remote_imports(files))


def registries() -> tuple[tuple[str, str], ...]:
    """FUNCTIONS_PACKAGE_REGISTRIES as (kind, URL): the first `jsr=` (or jsr.io) URL is "jsr", the
    first other one "npm", the rest "host" (reachable, e.g. a tarball host, but not a registry)."""
    chosen: list[tuple[str, str]] = []
    kinds: set[str] = set()
    for item in settings.FUNCTIONS_PACKAGE_REGISTRIES:
        kind, _, url = item.partition("=") if item.startswith(("npm=", "jsr=")) else ("", "", item)
        if not kind:
            kind = "jsr" if re.match(r"^https?://jsr\.io(?:[:/]|$)", url) else "npm"
        if kind in kinds:
            kind = "host"
        kinds.add(kind)
        chosen.append((kind, url if url.endswith("/") or kind == "host" else url + "/"))
    return tuple(chosen)


def resolve(*, files: dict[str, bytes], entry: str, name: str, limits: Limits) -> bytes:
    """Resolve and type-check the bundle's dependencies in a build sandbox; returns the cache as a
    canonical zip. Raises DeployFailed (unresolvable, refused, too large, a type error)."""
    clashing = sorted(path for path in files if path == FOLDER or path.startswith(FOLDER + "/"))
    if clashing:
        raise DeployFailed(
            f"{clashing[0]!r}: the folder {FOLDER}/ is reserved for the function's resolved dependencies.",
            details={"files": clashing},
        )
    kind = isolation()
    if getattr(kind, "NAME", "") != "bubblewrap":
        message = (
            "npm: and jsr: dependencies are resolved in the bubblewrap sandbox only, which this server "
            "does not use (BAAS_SANDBOX); bundle the dependencies into the function's files instead."
        )
        raise DeployFailed(message, details={"error": _error(message, "")})
    cap = settings.FUNCTIONS_DEPENDENCIES_MAX_BYTES
    build_limits = replace(
        limits,
        memory_mb=max(limits.memory_mb, DENO_CHECK_MEMORY_MB),
        tmp_bytes=max(limits.tmp_bytes, 2 * cap + 64 * 1024 * 1024),  # the cache, the packuments
        file_size_bytes=max(limits.file_size_bytes, 2 * cap),  # the one zip it writes out
    )
    ensure_check_seed(kind, build_limits)  # the build step type-checks from it too
    folder = code_dir(bundles.digest_of(files), files)
    build_root = sandbox_root() / "builds"
    build_root.mkdir(mode=0o711, exist_ok=True)
    out = tempfile.mkdtemp(dir=build_root)
    try:
        os.chown(out, settings.FUNCTIONS_SANDBOX_UID, settings.FUNCTIONS_SANDBOX_UID)
        os.chmod(out, 0o700)
        spec = SandboxSpec(
            key=f"build:{folder.name}",
            code_dir=folder,
            entry=entry,
            env={},
            network="none",
            limits=build_limits,
            function=name,
            runtime=DENO,
            check=True,
            build_dir=Path(out),
            registries=registries(),
        )
        try:
            answer = SandboxProcess(spec, kind).build()
        except SandboxFailure as failure:
            message = f"The dependencies could not be resolved: {failure.message}"
            raise DeployFailed(message, details={"error": failure.as_error()}) from None
        output = _clean_output(str(answer.get("output") or ""))
        if answer.get("op") == "check_failed":
            error = deno_check_error(output, "/function")
            raise DeployFailed(
                f"The function failed to type-check: {error['message']}",
                details={"error": error, "diagnostics": error["diagnostics"]},
            )
        if answer.get("op") != "built":
            text = output.replace("file:///function/", "")
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            first = next(iter(lines), "the resolver failed").removeprefix("error: ")
            causes = [line.split(":", 1)[1].strip() for line in lines if re.match(r"^\d+: ", line)]
            message = f"The dependencies could not be resolved: {first}" + (f" ({causes[-1]})" if causes else "")
            # The proxy refused a host that is no registry, or Deno's --allow-import (the registries'
            # hosts) did first: e.g. a jsr: import with no JSR registry configured (Deno's default, jsr.io).
            if "tunnel" in text or "403" in text or "Requires import access" in text:
                message += f" Only the configured package registries are reachable: {', '.join(_hosts())}."
            raise DeployFailed(
                message[:2000],
                details={"error": _error(message[:2000], text), "diagnostics": check_diagnostics(output, "/function")},
            )
        return _read_cache(os.path.join(out, BUILD_ZIP), cap)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _hosts() -> list[str]:
    return [url for _kind, url in registries()]


def _clean_output(output: str) -> str:
    return "\n".join(line for line in output.splitlines() if not _NOISE.match(line))


def _error(message: str, traceback: str) -> dict[str, Any]:
    return {"type": "DependencyError", "message": message, "traceback": traceback[-16000:]}


def _too_large(total: int, cap: int) -> DeployFailed:
    message = (
        f"The resolved dependencies take more than {cap} bytes (FUNCTIONS_DEPENDENCIES_MAX_BYTES)"
        + (f": {total} bytes" if total else "")
        + "; use fewer or smaller packages, or bundle what the function needs."
    )
    return DeployFailed(message, details={"error": _error(message, ""), "limit": cap})


def _read_cache(path: str, cap: int) -> bytes:
    """The build's zip, checked (size, plain relative paths of regular files) and made canonical."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise DeployFailed("The dependency step left no result.", details={"error": _error(str(exc), "")}) from None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(2 * cap + 1)
    if len(data) > 2 * cap:
        raise _too_large(0, cap)
    cache: dict[str, bytes] = {}
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name = info.filename
            parts = name.split("/")
            if name.startswith("/") or "\\" in name or any(part in ("", ".", "..") for part in parts):
                raise DeployFailed(f"The dependency cache holds an unusual path: {name[:200]!r}.")
            if info.is_dir():
                continue
            total += info.file_size
            if total > cap:
                raise _too_large(total, cap)
            cache[name] = archive.read(info)
    return bundles.to_zip(cache)


def remove_stale_builds(*, min_age_seconds: float) -> None:
    """Build folders a killed deploy left behind (a live one is removed by its deploy)."""
    root = sandbox_root() / "builds"
    if not root.is_dir():
        return
    for folder in root.iterdir():
        try:
            if time.time() - folder.stat().st_mtime > min_age_seconds:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:
            continue


def with_cache(files: dict[str, bytes], dependencies: bytes | memoryview | None) -> dict[str, bytes]:
    """A version's folder contents: its files and, if any, its resolved cache under `.deps/`."""
    if not dependencies:
        return files
    cache = bundles.from_stored_zip(bytes(dependencies))
    return {**files, **{f"{FOLDER}/{path}": content for path, content in cache.items()}}


# --- the type checker's seed (functions/sandbox/deno.py says what and why) ----------------------------------
_seed_lock = threading.Lock()


def ensure_check_seed(kind: Any, limits: Limits) -> None:
    """Make this machine's check seed if it has none (the first TypeScript deploy pays one extra
    `deno check` of SEED_FUNCTION). Any failure leaves none: checks then start from nothing, as before."""
    if getattr(kind, "NAME", "") != "bubblewrap":
        return  # the seed is keyed by the sandbox's paths (/function, /opt/baas)
    folder = deno.check_seed_folder(runtime_parent())
    if folder.exists():
        return
    with _seed_lock:
        if folder.exists():
            return
        # A bundle folder of its own for this one build, removed after it (not a deployed bundle's).
        bundle = code_dir(f"deno-check-seed-{uuid.uuid4().hex}", {"main.ts": deno.SEED_FUNCTION.encode()})
        spec = SandboxSpec(
            key="deno-check-seed",
            code_dir=bundle,
            entry="main.ts",
            env={},
            network="none",
            limits=limits,
            runtime=DENO,
            check=True,
            seed=True,
        )
        try:
            answer = SandboxProcess(spec, kind).build()
        except SandboxFailure as failure:
            logger.warning("no TypeScript check seed: %s", failure.message)
            return
        finally:
            shutil.rmtree(bundle, ignore_errors=True)
        if answer.get("op") != "check_seed":
            logger.warning("no TypeScript check seed: %s", str(answer.get("output") or answer.get("op"))[:500])
            return
        deno.store_check_seed(folder, answer.get("files"))
