"""The unsandboxed runner only by explicit choice: `baas dev --unsafe-local-functions` (or
BAAS_SANDBOX=unsafe-local) on a loopback address, said loudly — never on an address others can
reach, never in production. `baas dev` names the sandbox before anything else."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import BAAS_BIN, free_port, port_open
from tests.platform.processes import baas, http, platform_env, processes_with_marker, wait_until

pytestmark = pytest.mark.slow

MARKER_FUNCTION = textwrap.dedent(
    """
    import os

    from baas_runtime import on_http

    @on_http
    def call(event, ctx):
        with open(os.environ["MARKER"], "w") as marker:  # harmless: creates one file, nothing else
            marker.write("ran")
        return "ran"
    """
)


def _first_line(process, timeout: float = 30) -> str:  # type: ignore[no-untyped-def]
    assert wait_until(lambda: "\n" in process.text, timeout=timeout), process.text
    return process.text.splitlines()[0]


def test_baas_dev_with_the_opt_in_runs_functions_unsandboxed_on_loopback_and_says_so(tmp_path: Path) -> None:
    marker, port = uuid.uuid4().hex, free_port()
    server = baas(
        "dev",
        "--unsafe-local-functions",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "server"),
        env=platform_env(marker),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert _first_line(server).startswith("functions sandbox: UNSAFE-LOCAL"), server.text
        assert wait_until(lambda: http("GET", f"{base}/v1/health")[0] == 200, timeout=60), server.text
        assert http("GET", f"{base}/v1/health")[1]["sandbox"] == "unsafe-local"
        key = re.search(r"baas_sk_[A-Za-z0-9_-]{20,}", server.text).group(0)

        project = tmp_path / "marker"
        project.mkdir()
        (project / "main.py").write_text(MARKER_FUNCTION)
        ran = tmp_path / "ran"
        (project / "baas.json").write_text(json.dumps({"env": {"MARKER": str(ran)}}))
        laptop = platform_env(marker, BAAS_URL=base, BAAS_SERVICE_KEY=key)
        laptop.pop("BAAS_DATA_DIR", None)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [BAAS_BIN, "functions", *args], env=laptop, cwd=tmp_path, capture_output=True, text=True, timeout=120
            )

        deployed = cli("deploy", str(project), "--name", "marker")
        assert deployed.returncode == 0, deployed.stderr
        assert "WARNING" in deployed.stderr and "WITHOUT a sandbox" in deployed.stderr
        invoked = cli("invoke", "marker")
        assert invoked.returncode == 0 and json.loads(invoked.stdout) == "ran", invoked.stderr
        assert ran.read_text() == "ran"  # the opt-in works: the code ran as the server's user
    finally:
        assert server.stop(signal.SIGTERM) == 0, server.text
    assert wait_until(lambda: processes_with_marker(marker) == [], timeout=5)


def test_baas_dev_names_the_sandbox_first_even_when_none_works(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    env = platform_env(marker, FUNCTIONS_BWRAP=str(tmp_path / "missing" / "bwrap"))
    server = baas("dev", "--port", str(free_port()), "--data-dir", str(tmp_path / "server"), env=env)
    try:
        assert _first_line(server).startswith("functions sandbox: UNAVAILABLE"), server.text
        assert "kernel.apparmor_restrict_unprivileged_userns" in server.text
        assert wait_until(lambda: "apt-get install bubblewrap" in server.text, timeout=10), server.text
    finally:
        server.stop(signal.SIGTERM)
    assert wait_until(lambda: processes_with_marker(marker) == [], timeout=10)


@pytest.mark.parametrize(
    ("command", "extra_env"),
    [
        (["dev", "--unsafe-local-functions", "--host", "0.0.0.0"], {}),
        (["dev", "--host", "0.0.0.0"], {"BAAS_SANDBOX": "unsafe-local"}),
        (["serve", "--host", "0.0.0.0"], {"BAAS_SANDBOX": "unsafe-local"}),
        (["serve", "--host", "192.0.2.10"], {"BAAS_SANDBOX": "unsafe-local"}),
    ],
)
def test_unsafe_local_refuses_to_start_on_a_non_loopback_address(tmp_path: Path, command, extra_env) -> None:
    marker, port = uuid.uuid4().hex, free_port()
    env = platform_env(marker, BAAS_DATA_DIR=str(tmp_path / "server"), **extra_env)
    started = time.monotonic()
    done = subprocess.run(
        [BAAS_BIN, *command, "--port", str(port)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "unsafe-local" in said and "refused while listening on" in said, said
    assert not port_open("127.0.0.1", port)  # it never listened
    assert processes_with_marker(marker) == []
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("command", [["serve", "--host", "127.0.0.1"], ["worker"], ["dev"]])
def test_unsafe_local_is_refused_in_production(tmp_path: Path, command: list[str]) -> None:
    from tests.platform.test_production_settings import GOOD

    env = platform_env(uuid.uuid4().hex, BAAS_DATA_DIR=str(tmp_path / "server"), **GOOD, BAAS_SANDBOX="unsafe-local")
    done = subprocess.run([BAAS_BIN, *command], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "requires BAAS_SANDBOX=bubblewrap" in done.stdout + done.stderr
