"""`baas functions deploy|invoke|logs|list` as a frontend developer uses it: from another folder,
against a running `baas dev`, with a service key."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import textwrap
import uuid

import pytest

from tests.conftest import BAAS_BIN, free_port
from tests.platform.processes import baas, http, platform_env, wait_until

pytestmark = pytest.mark.slow

SOURCE = textwrap.dedent(
    """
    from baas_runtime import on_http, logger

    @on_http
    def hello(event, ctx):
        logger.info("greeting %s", event["payload"]["name"])
        return {"hello": event["payload"]["name"], "version": ctx.version}
    """
)


def test_deploy_invoke_list_and_logs_from_a_laptop_folder(tmp_path):
    marker = uuid.uuid4().hex
    port = free_port()
    server = baas("dev", "--port", str(port), "--data-dir", str(tmp_path / "server"), env=platform_env(marker))
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: http("GET", f"{base}/v1/health")[0] == 200, timeout=60), server.text
        key = re.search(r"baas_sk_[A-Za-z0-9_-]{20,}", server.text).group(0)
        project = tmp_path / "my-function"
        project.mkdir()
        (project / "main.py").write_text(SOURCE)
        laptop = platform_env(marker, BAAS_URL=base, BAAS_SERVICE_KEY=key)
        laptop.pop("BAAS_DATA_DIR", None)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [BAAS_BIN, "functions", *args], env=laptop, cwd=tmp_path, capture_output=True, text=True, timeout=120
            )

        deployed = cli("deploy", str(project), "--name", "greeter")
        assert deployed.returncode == 0, deployed.stderr
        assert "deployed greeter version 1" in deployed.stdout
        assert "bundl" in deployed.stderr, "progress is shown while bundling and uploading"

        invoked = cli("invoke", "greeter", "--data", '{"name": "ada"}')
        assert invoked.returncode == 0, invoked.stderr
        assert json.loads(invoked.stdout) == {"hello": "ada", "version": 1}

        listed = cli("list")
        assert listed.returncode == 0 and "greeter" in listed.stdout

        logs = cli("logs", "greeter")
        assert logs.returncode == 0, logs.stderr
        assert "greeting ada" in logs.stdout

        assert not (tmp_path / ".baas").exists(), "the client leaves no data folder where it runs"
        wrong = subprocess.run(
            [BAAS_BIN, "functions", "list"],
            env={**laptop, "BAAS_SERVICE_KEY": "baas_sk_wrong"},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert wrong.returncode != 0 and "token_invalid" in wrong.stderr
    finally:
        server.stop(signal.SIGTERM)
