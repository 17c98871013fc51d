"""Helpers to run baas processes the way a user does, and to check that none is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import BAAS_BIN

# Settings the test run itself uses; a platform process started by a test must not inherit them.
_TEST_ONLY_ENV = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "STORAGE_URL", "CELERY_BROKER_URL")


def platform_env(marker: str, **overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _TEST_ONLY_ENV}
    env["BAAS_TEST_MARKER"] = marker  # lets a test find every process it started
    env.update(overrides)
    return env


def processes_with_marker(marker: str) -> list[int]:
    """PIDs of live processes whose environment carries the marker."""
    needle = f"BAAS_TEST_MARKER={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                status = (entry / "stat").read_text().split()[2]
                if status != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


class RunningProcess:
    """A command whose combined output is collected in the background."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: str | None = None) -> None:
        self.output: list[str] = []
        self.process = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def baas(*args: str, env: dict[str, str]) -> RunningProcess:
    return RunningProcess([BAAS_BIN, *args], env=env)


def http(method: str, url: str, *, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status = response.status
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        raw, status, content_type = error.read(), error.code, error.headers.get("Content-Type", "")
    return status, json.loads(raw) if raw and "json" in content_type else raw


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:
            pass
        time.sleep(interval)
    return False
