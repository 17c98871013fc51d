"""The example web app (examples/web-app) in chromium, served from another origin than the API.

`sdk_dist` builds sdk/js (`npm ci` when node_modules is missing, `npm run build` when dist/ is
missing or older than a source file), once per run, under a file lock (pytest-xdist workers share
the checkout). `origins` serves the repository root from two static servers on their own ports:
`allowed` is in the API's CORS_ALLOWED_ORIGINS, `other` is not.
"""

from __future__ import annotations

import fcntl
import functools
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.browser import browser  # noqa: F401
from tests.conftest import service_missing
from tests.realtime.conftest import Server, prepare, stack_env, start_server

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk" / "js"
OPEN_TO_USERS = {"read": "auth != null", "create": "auth != null", "update": "auth != null"}


def _stale(dist: Path) -> bool:
    built = dist / "index.js"
    if not built.exists():
        return True
    sources = [*SDK.joinpath("src").rglob("*.ts"), SDK / "package.json", SDK / "scripts" / "build.mjs"]
    return max(p.stat().st_mtime for p in sources) > built.stat().st_mtime


@pytest.fixture(scope="session")
def sdk_dist() -> Path:
    npm = shutil.which("npm")
    if npm is None:
        service_missing("npm (Node.js ≥ 20), to build sdk/js")
    dist = SDK / "dist"
    with open(SDK / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (SDK / "node_modules" / "esbuild").exists():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SDK, check=True, timeout=600)
        if _stale(dist):
            subprocess.run([npm, "run", "build"], cwd=SDK, check=True, timeout=600, capture_output=True)
    return dist


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Origins:
    allowed: str
    other: str


@pytest.fixture(scope="module")
def origins() -> Iterator[Origins]:
    servers = []
    for _ in range(2):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(ROOT)))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
    try:
        allowed, other = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
        yield Origins(allowed=allowed, other=other)
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, origins: Origins, sdk_dist: Path) -> Iterator[Server]:
    """A live server (SQLite, or PostgreSQL + Redis in that pass) whose only allowed origin is `allowed`."""
    for env in stack_env(tmp_path_factory.mktemp("webapp")):
        running = start_server(prepare(env), CORS_ALLOWED_ORIGINS=origins.allowed)
        try:
            running.rest("POST", "/v1/db/collections", {"name": "notes", "rules": OPEN_TO_USERS})
            running.rest("POST", "/v1/storage/buckets", {"name": "uploads", "rules": OPEN_TO_USERS})
            yield running
        finally:
            running.process.stop()
