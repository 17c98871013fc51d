"""Test functions against a real platform: `baas_runtime.testing`.

    # conftest.py
    import pytest
    from baas_runtime.testing import Platform

    @pytest.fixture(scope="session")
    def platform():
        with Platform() as running:
            yield running

    # test_main.py
    def test_it_totals_an_order(platform):
        platform.deploy(Path(__file__).parent)
        order = platform.collection("orders").create({"lines": [...]})
        platform.wait_for_invocations("orders-total", count=1)
        assert platform.document("order_totals", order["id"])["total"] == 11

`Platform()` starts `baas dev` in a subprocess, in a temporary data folder (SQLite, the embedded
queue, local files; nothing shared with your own `baas dev`), and talks to it over HTTP with
`baas_client` and a service key. Documents, storage, the event log, triggers, retries and the
sandbox are the production ones: a handler runs under bubblewrap exactly as deployed, and a test
sees what it really wrote. Start one per test session (about 5 s); each `deploy` is a new
version (about 0.2 s). Stopping it removes the folder.

This module runs in the test process, never in the sandbox, and imports nothing of the server
(an import contract): the platform is a separate process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["DeployFailed", "Function", "InvocationFailed", "Platform", "PlatformFailed"]

T = TypeVar("T")
FINISHED = ("succeeded", "failed", "dead")
# Settings that would point the test platform at your real services: left out, so it is embedded.
_OUTSIDE_SETTINGS = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "STORAGE_URL",
    "REDIS_URL",
    "BAAS_DATA_DIR",
    "BAAS_MODE",
    "BAAS_ENV_FILE",
    "CELERY_BROKER_URL",
    "STORAGE_BACKEND",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "BAAS_URL",
    "BAAS_SERVICE_KEY",
)


class PlatformFailed(RuntimeError):
    """The platform did not start (its output is in the message)."""


class DeployFailed(AssertionError):
    """The function's code did not load: the message has its traceback."""


class InvocationFailed(AssertionError):
    """An invocation failed or died: the message has the function's logs and traceback."""

    def __init__(self, invocation: dict[str, Any]) -> None:
        self.invocation = invocation
        error = invocation.get("error") or {}
        text = error.get("traceback") or f"{error.get('code')}: {error.get('message')}"
        logs = invocation.get("logs") or ""
        super().__init__(
            f"invocation {invocation.get('id')} of {invocation.get('function')} {invocation.get('status')}:\n"
            f"{logs}{text}"
        )


class Platform:
    """A real platform for tests; see the module's documentation. `env` adds settings of the
    server (e.g. {"FUNCTIONS_RETRY_BASE_MS": "50"} for quick retries)."""

    def __init__(self, *, env: dict[str, str] | None = None, startup_timeout: float = 120.0) -> None:
        self._extra_env = dict(env or {})
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self._output: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.data_dir: Path | None = None
        self.url = ""
        self.service_key = ""
        self.client: Any = None  # baas_client.Client, signed in with the service key
        self._admin: Any = None
        self._async_client: Any = None

    # --- life ------------------------------------------------------------------------------------------
    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Platform:
        from baas_client import create_async_client, create_client
        from baas_client.functions_admin import FunctionsAdmin

        self.data_dir = Path(tempfile.mkdtemp(prefix="baas-test-"))
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if k not in _OUTSIDE_SETTINGS}
        env.update(self._extra_env)
        command = [sys.executable, "-m", "baas.cli", "dev", "--port", str(port), "--data-dir", str(self.data_dir)]
        self._process = subprocess.Popen(
            command,
            cwd=self.data_dir,  # no project .env is read
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # stop() ends the whole process tree
        )
        threading.Thread(target=self._read_output, daemon=True, name="baas-test-output").start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.client = create_client(self.url, service_key=self.service_key)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="baas-test-admin")
        self._thread.start()

        async def make() -> Any:
            return create_async_client(self.url, service_key=self.service_key, retries=1)

        self._async_client = self._run(make())
        self._admin = FunctionsAdmin(self._async_client)
        return self

    def stop(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()
            self.client = None
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._run(self._async_client.aclose())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:  # nothing here is kept: a short grace, then the whole tree goes
                self._process.wait(3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(10)
        self._process = None
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None

    @property
    def output(self) -> str:
        """What the platform printed so far (its server, worker and scheduler logs)."""
        return "".join(self._output)

    def _read_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._output.append(line)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise PlatformFailed(f"`baas dev` stopped while starting:\n{self.output[-4000:]}")
            if not self.service_key:
                found = re.search(r"baas_sk_[A-Za-z0-9_-]{20,}", self.output)
                self.service_key = found.group(0) if found else ""
            if self.service_key and _healthy(self.url):
                if "UNAVAILABLE" in self.output:
                    raise PlatformFailed(f"no sandbox can run functions here:\n{self.output[-2000:]}")
                return
            time.sleep(0.1)
        raise PlatformFailed(f"`baas dev` was not ready in {self._startup_timeout:.0f} s:\n{self.output[-4000:]}")

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "the platform is not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(360)

    # --- functions --------------------------------------------------------------------------------------
    def deploy(
        self,
        folder: str | Path,
        *,
        name: str | None = None,
        env: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        **settings: Any,
    ) -> Function:
        """Deploy a function folder (its `baas.json` applies); `env`, `secrets` and other
        manifest settings (`permissions=[...]`, `max_retries=…`) override it for this test."""
        from baas_client import BaasError
        from baas_client.functions_admin import bundle_folder

        bundle = bundle_folder(folder, name=name)
        if env:
            bundle.config["env"] = {**bundle.config.get("env", {}), **env}
        if secrets:
            bundle.config["secrets"] = {**bundle.config.get("secrets", {}), **secrets}
        bundle.config.update(settings)
        try:
            version = self._run(self._admin.deploy(bundle))
        except BaasError as error:
            failure = error.details.get("error") or {}
            detail = failure.get("traceback") or json.dumps(error.details, indent=2)
            raise DeployFailed(f"{error.message} ({error.code})\n{error.details.get('logs') or ''}{detail}") from None
        return Function(self, version)

    def function(self, name: str) -> Function:
        detail = self._run(self._admin.get(name))
        return Function(self, detail["active_version"])

    def invocations(self, function: str, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The function's invocations, newest first."""
        page = self._run(self._admin.invocations(function, status=status, limit=limit))
        return page["items"]

    def wait_for_invocations(
        self, function: str, *, count: int = 1, timeout: float = 30.0, allow_failures: bool = False
    ) -> list[dict[str, Any]]:
        """Wait until `count` invocations of the function have finished (triggers run
        asynchronously), oldest first. A failed or dead one raises InvocationFailed with its
        traceback, unless `allow_failures`. A retrying one is not finished yet."""
        deadline = time.monotonic() + timeout
        while True:
            items = self.invocations(function)
            finished = [i for i in items if i["status"] in FINISHED]
            if not allow_failures:
                for item in finished:
                    if item["status"] != "succeeded":
                        raise InvocationFailed(item)
            if len(finished) >= count:
                return finished[::-1]
            if time.monotonic() > deadline:
                states = ", ".join(f"{i['id'][:8]} {i['status']}" for i in items) or "none"
                raise AssertionError(f"{len(finished)} of {count} invocations of {function} finished ({states})")
            time.sleep(0.1)

    # --- data --------------------------------------------------------------------------------------------
    def collection(self, name: str, rules: dict[str, str] | None = None) -> Any:
        """The collection (created if missing, with `rules`; the default lets only the service
        role in); a `baas_client` collection acting as the service role."""
        self._create("/v1/db/collections", {"name": name, **({"rules": rules} if rules else {})})
        return self.client.db.collection(name)

    def bucket(self, name: str, rules: dict[str, str] | None = None) -> Any:
        """The bucket (created if missing); a `baas_client` bucket acting as the service role."""
        self._create("/v1/storage/buckets", {"name": name, **({"rules": rules} if rules else {})})
        return self.client.storage.bucket(name)

    def _create(self, path: str, body: dict[str, Any]) -> None:
        from baas_client import BaasError

        try:
            self.client.request("POST", path, json_body=body)
        except BaasError as error:
            if error.status != 409:
                raise

    def document(self, collection: str, id: str) -> dict[str, Any]:
        """A document's data (raises `baas_client.BaasError` not_found if there is none)."""
        return self.client.db.collection(collection).get(id)["data"]

    def documents(self, collection: str, *, filter: str | None = None) -> list[dict[str, Any]]:
        """Every document of a collection (`{id, data, …}`), in creation order."""
        return list(self.client.db.collection(collection).iterate(filter=filter))

    def object(self, bucket: str, path: str) -> bytes:
        return self.client.storage.bucket(bucket).download(path)


class Function:
    """A deployed version, as `Platform.deploy` returns it."""

    def __init__(self, platform: Platform, version: dict[str, Any]) -> None:
        self.platform = platform
        self.name: str = version["function"]
        self.version: int = version["version"]
        self.triggers: list[dict[str, Any]] = version.get("triggers") or []

    def invoke(self, payload: Any = None) -> Any:
        """Call the `@on_http` handler and return its result; a failure raises InvocationFailed
        with the function's logs and traceback."""
        answer = self.invoke_raw(payload)
        if answer["invocation"]["status"] != "succeeded":
            raise InvocationFailed(answer["invocation"])
        return answer.get("result")

    def invoke_raw(self, payload: Any = None) -> dict[str, Any]:
        """`{result, invocation}` whatever the outcome."""
        return self.platform._run(self.platform._admin.invoke(self.name, payload))

    def invocations(self, *, status: str | None = None) -> list[dict[str, Any]]:
        return self.platform.invocations(self.name, status=status)

    def last_invocation(self) -> dict[str, Any]:
        items = self.invocations()
        if not items:
            raise AssertionError(f"{self.name} has no invocations")
        return items[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v1/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False
