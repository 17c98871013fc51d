"""A real `baas dev` for the command-line tests (`baas functions`, `baas webhooks`), and a
developer's shell logged in to it with `baas login`."""

from __future__ import annotations

import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import BAAS_BIN, free_port
from tests.platform.processes import RunningProcess, baas, http, platform_env, wait_until


@dataclass
class Server:
    url: str
    key: str
    port: int
    data_dir: Path
    process: RunningProcess
    env: dict[str, str]

    def start(self) -> None:
        self.process = baas("dev", "--port", str(self.port), "--data-dir", str(self.data_dir), env=self.env)
        assert wait_until(lambda: http("GET", f"{self.url}/v1/health")[0] == 200, timeout=90), self.process.text


def start_server(tmp: Path, **settings: str) -> Server:
    """`baas dev` on a free port with its data under `tmp`; `settings` are extra environment
    variables. Its first service key, printed once at start, is kept as `key`."""
    port = free_port()
    env = platform_env(uuid.uuid4().hex, **settings)
    server = Server(f"http://127.0.0.1:{port}", "", port, tmp / "server", None, env)  # type: ignore[arg-type]
    server.start()
    server.key = re.search(r"baas_sk_[A-Za-z0-9_-]{20,}", server.process.text).group(0)  # type: ignore[union-attr]
    return server


@contextmanager
def serving(tmp: Path, **settings: str) -> Iterator[Server]:
    server = start_server(tmp, **settings)
    try:
        yield server
    finally:
        server.process.stop(signal.SIGTERM)


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BAAS_BIN, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def fn(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(["functions", *args], env, cwd)


def logged_in_shell(home: Path, server: Server) -> dict[str, str]:
    """A developer's shell: no server settings in the environment, a config file of its own under
    `home`, logged in to `server`."""
    env = platform_env(uuid.uuid4().hex, BAAS_CONFIG=str(home / "config.json"))
    for name in ("BAAS_URL", "BAAS_SERVICE_KEY", "BAAS_DATA_DIR"):
        env.pop(name, None)
    done = run(["login", server.url, "--key", server.key], env, home)
    assert done.returncode == 0, done.stderr
    return env
