"""Managing functions (service key or staff): deploy, versions, rollback, delete, invocations,
retry, secrets, and the live log stream. Used by the `baas functions` CLI and
`baas_runtime.testing`; kept apart from `Functions` (what an app calls: invoke).

    admin = FunctionsAdmin(client)            # an AsyncClient made with service_key=...
    await admin.deploy(bundle_folder("hello"))
    async for entry in admin.logs("hello"):   # server-sent events, resumed after a reconnect
        print(entry["status"], entry["logs"])
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import io
import json
import re
import uuid
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import httpx

from ._http import to_error
from ._util import backoff, enc
from .errors import BaasError

if TYPE_CHECKING:
    from .client import AsyncClient

MANIFEST = "baas.json"

# What a function runs on: `python` (entry `main.py`) or `deno` (TypeScript/JavaScript: `main.ts`).
FunctionRuntime = Literal["python", "deno"]


class FunctionVersion(TypedDict, total=False):
    """A deployed version, as `deploy`, `versions` and `update_secrets` return it (the fields of
    `GET /v1/schema`'s FunctionVersion; `runtime` is absent from a server without TypeScript
    functions: `runtime_of` reads that as "python")."""

    function: str
    version: int
    active: bool
    runtime: FunctionRuntime
    entry: str
    timeout: int
    memory: int
    env: dict[str, str]
    secrets: list[str]
    network: str
    permissions: list[str]
    max_retries: int
    concurrency: int
    rate_per_minute: int
    invoke: str
    triggers: list[dict[str, Any]]
    files: list[str]
    size: int
    digest: str
    created_at: str
    created_by: str | None
    sandbox: str


class FunctionInfo(TypedDict, total=False):
    """A function with its active version, as `list`, `get` and `rollback` return it."""

    name: str
    version: int | None
    runtime: FunctionRuntime
    active_version: FunctionVersion | None
    created_at: str
    updated_at: str


def runtime_of(record: FunctionInfo | FunctionVersion | None) -> FunctionRuntime:
    """The runtime of a function or a version; "python" when the server sends none (it predates
    TypeScript functions) or there is no version."""
    found: Any = dict(record or {})
    runtime = found.get("runtime") or (found.get("active_version") or {}).get("runtime")
    return "deno" if runtime == "deno" else "python"


@dataclass
class Bundle:
    """A function folder, zipped: what `deploy` uploads. `config` is the manifest (`baas.json`)
    with the name filled in; `files` the bundled paths."""

    config: dict[str, Any]
    archive: bytes
    files: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.config["name"])


def _wanted(relative: Path) -> bool:
    # Dot-files (.git, .venv, .env…), caches and the tests of the function stay on the laptop.
    return not any(part.startswith(".") or part in ("__pycache__", "node_modules") for part in relative.parts)


def read_manifest(manifest: Path) -> dict[str, Any]:
    """A function's `baas.json` as a dict ({} when there is none); a clear error when it is not a
    JSON object."""
    if not manifest.is_file():
        return {}
    try:
        config = json.loads(manifest.read_text())
    except ValueError as error:
        raise BaasError("invalid_request", f"{manifest} is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise BaasError("invalid_request", f"{manifest} must hold a JSON object.")
    return config


def bundle_folder(folder: str | Path, *, name: str | None = None, include_tests: bool = False) -> Bundle:
    """Zip a function folder; its `baas.json` (if any) gives the deploy settings. Dot-files and
    dot-folders (`.git`, `.env`, `.baas-ts`), `__pycache__` and `node_modules` are left out; so are
    tests (`test_*.py`, `*_test.py`, `conftest.py`, and `deno test`'s `*_test.ts`, `*.test.ts`,
    `test.ts` with .tsx/.mts/.js/.mjs/.jsx) unless `include_tests`."""
    root = Path(folder)
    if not root.is_dir():
        raise BaasError("invalid_request", f"{root} is not a folder.")
    config = read_manifest(root / MANIFEST)
    config["name"] = name or config.get("name") or root.resolve().name
    buffer = io.BytesIO()
    names: list[str] = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if not path.is_file() or not _wanted(relative):
                continue
            if not include_tests and _is_test(relative):
                continue
            if relative.as_posix() == "deno.json":
                archive.writestr("deno.json", _deployed_deno_config(path.read_bytes()))
            else:
                archive.write(path, relative.as_posix())
            names.append(relative.as_posix())
    return Bundle(config, buffer.getvalue(), names)


# `baas functions init --lang ts` maps `baas` to a local copy (`.baas-ts/`, not bundled: the server
# maps it to its own); entries pointing there are left out of the deployed deno.json.
_LOCAL_MODULE = "./.baas-ts/"


def _deployed_deno_config(raw: bytes) -> bytes:
    try:
        config = json.loads(raw)
    except ValueError:
        return raw  # deno.json with comments, or broken: the server's check says what is wrong
    imports = config.get("imports") if isinstance(config, dict) else None
    if not isinstance(imports, dict):
        return raw
    kept = {k: v for k, v in imports.items() if not (isinstance(v, str) and v.startswith(_LOCAL_MODULE))}
    if len(kept) == len(imports):
        return raw
    return (json.dumps({**config, "imports": kept}, indent=2) + "\n").encode()


def watched_files(folder: str | Path) -> dict[str, tuple[int, int]]:
    """What a deploy would bundle, by path, with (mtime_ns, size): compare two to see a change."""
    root = Path(folder)
    found = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if _wanted(relative) and not _is_test(relative):
            with contextlib.suppress(OSError):  # removed while we looked
                if path.is_file():
                    stat = path.stat()
                    found[relative.as_posix()] = (stat.st_mtime_ns, stat.st_size)
    return found


# `deno test`'s own pattern: test.ts, main_test.ts, main.test.ts (and .tsx, .mts, .js, .mjs, .jsx).
_DENO_TEST = re.compile(r"^(?:.*[._])?test\.(?:ts|tsx|mts|js|mjs|jsx)$")


def _is_test(relative: Path) -> bool:
    base = relative.name
    if base == "conftest.py" or _DENO_TEST.match(base):
        return True
    return base.endswith(".py") and (base.startswith("test_") or base.endswith("_test.py"))


def _multipart(boundary: str, config: dict[str, Any], archive: bytes) -> bytes:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="config"\r\n\r\n{json.dumps(config)}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="bundle"; filename="bundle.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    )
    return head.encode() + archive + f"\r\n--{boundary}--\r\n".encode()


class FunctionsAdmin:
    """The functions management API on an `AsyncClient` (which must carry a service key or a staff
    session)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._http = client.http

    @property
    def url(self) -> str:
        return self._http.base

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self._http.request(method, path, **kwargs)

    # --- deployments -------------------------------------------------------------------------------
    async def deploy(self, bundle: Bundle, *, secrets: dict[str, str] | None = None) -> FunctionVersion:
        """Upload a bundle as the function's new active version; returns the version (with its
        triggers, and `sandbox`: which sandbox runs it). A failed load raises `deploy_failed`
        with the code's traceback in `details["error"]["traceback"]`."""
        config = dict(bundle.config)
        if secrets:
            config["secrets"] = {**config.get("secrets", {}), **secrets}
        boundary = uuid.uuid4().hex
        body = _multipart(boundary, config, bundle.archive)
        return await self._call(  # type: ignore[no-any-return]
            "POST",
            "/v1/functions",
            body=lambda: body,
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )

    async def list(self) -> builtins.list[FunctionInfo]:
        items: builtins.list[FunctionInfo] = []
        cursor: str | None = None
        while True:
            page = await self._call("GET", "/v1/functions", query={"limit": 100, "cursor": cursor})
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    async def get(self, name: str) -> FunctionInfo:
        return await self._call("GET", f"/v1/functions/{enc(name)}")  # type: ignore[no-any-return]

    async def versions(self, name: str, *, limit: int = 50) -> builtins.list[FunctionVersion]:
        page = await self._call("GET", f"/v1/functions/{enc(name)}/versions", query={"limit": limit})
        return page["items"]  # type: ignore[no-any-return]

    async def rollback(self, name: str, version: int) -> FunctionInfo:
        return await self._call(  # type: ignore[no-any-return]
            "POST", f"/v1/functions/{enc(name)}/rollback", json_body={"version": version}
        )

    async def delete(self, name: str) -> None:
        await self._call("DELETE", f"/v1/functions/{enc(name)}")

    # --- secrets -------------------------------------------------------------------------------------
    async def secrets(self, name: str) -> list[str]:
        """The names of the active version's secrets (values are never shown)."""
        answer = await self._call("GET", f"/v1/functions/{enc(name)}/secrets")
        return answer["names"]  # type: ignore[no-any-return]

    async def update_secrets(
        self, name: str, *, set: dict[str, str] | None = None, unset: list[str] | None = None
    ) -> FunctionVersion:
        """Change secrets: a new version with the active one's code and settings goes live."""
        return await self._call(  # type: ignore[no-any-return]
            "PATCH", f"/v1/functions/{enc(name)}/secrets", json_body={"set": set or {}, "unset": unset or []}
        )

    # --- invocations ---------------------------------------------------------------------------------
    async def invoke(self, name: str, payload: Any = None, *, async_: bool = False) -> dict[str, Any]:
        """`{result, invocation}` (or `{invocation}` with `async_`); a failed run is an answer here,
        not an exception: look at `invocation["status"]` and `invocation["error"]`."""
        return await self._call(  # type: ignore[no-any-return]
            "POST",
            f"/v1/functions/{enc(name)}/invoke",
            query={"async": "true"} if async_ else None,
            json_body={"payload": payload},
            has_json=True,
        )

    async def invocations(
        self, name: str, *, status: str | None = None, limit: int = 20, cursor: str | None = None
    ) -> dict[str, Any]:
        """A page `{items, next_cursor}` of the function's invocations, newest first."""
        query = {"status": status, "limit": limit, "cursor": cursor}
        return await self._call("GET", f"/v1/functions/{enc(name)}/invocations", query=query)  # type: ignore[no-any-return]

    async def invocation(self, id: str) -> dict[str, Any]:
        return await self._call("GET", f"/v1/invocations/{enc(id)}")  # type: ignore[no-any-return]

    async def retry(self, id: str) -> dict[str, Any]:
        return await self._call("POST", f"/v1/invocations/{enc(id)}/retry")  # type: ignore[no-any-return]

    # --- logs ----------------------------------------------------------------------------------------
    async def logs(
        self,
        name: str,
        *,
        cursor: str | None = None,
        tail: int = 10,
        follow: bool = True,
        on_state: Callable[[str], None] | None = None,
        max_reconnect_delay: float = 5.0,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every finished attempt of the function's invocations, as the server pushes them
        (`GET /v1/functions/{name}/logs`, server-sent events). Starts with the last `tail`
        ones (or after `cursor`); each entry has a `cursor` to resume from. With `follow`, a
        dropped connection or a restarted server is reconnected to with backoff and the stream
        resumes where it stopped; `on_state("disconnected" | "connected")` reports it."""
        path = f"/v1/functions/{enc(name)}/logs"
        attempt = 0
        connected_once = False
        while True:
            query: dict[str, Any] = {"cursor": cursor} if cursor else {"tail": tail}
            if not follow:
                query["follow"] = "false"
            try:
                async for entry in self._stream(path, query):
                    if entry is None:  # the stream opened
                        attempt = 0
                        if connected_once and on_state:
                            on_state("connected")
                        connected_once = True
                        continue
                    cursor = entry.get("cursor") or cursor
                    if entry.get("event") != "position":  # where the stream starts: not an entry
                        yield entry
                if not follow:
                    return
            except (httpx.TransportError, httpx.RemoteProtocolError) as error:
                if not follow:
                    raise BaasError("network_error", f"Network failure: {error!r}") from error
            except BaasError as error:
                if error.status and error.status < 500:
                    raise
            if on_state:
                on_state("disconnected")
            await asyncio.sleep(max(0.2, backoff(attempt, 0.5, max_reconnect_delay)))
            attempt += 1

    async def _stream(self, path: str, query: dict[str, Any]) -> AsyncIterator[dict[str, Any] | None]:
        """One connection's events: None when it opens, then each `invocation` event's data."""
        token = await self._client.auth.token()
        headers = {"accept": "text/event-stream", "cache-control": "no-cache"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        timeout = httpx.Timeout(10.0, read=60.0)  # the server sends a comment every 15 s
        async with self._http.client.stream(
            "GET", self._http.url(path), params=query, headers=headers, timeout=timeout
        ) as response:
            if not response.is_success:
                await response.aread()
                raise to_error(response)
            yield None
            event, data = "message", []
            async for line in response.aiter_lines():
                if line == "":
                    if data and event == "invocation":
                        yield json.loads("\n".join(data))
                    elif data and event == "position":
                        yield {**json.loads("\n".join(data)), "event": "position"}
                    event, data = "message", []
                elif line.startswith(":"):
                    continue
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
