"""Functions fail closed: without a working bubblewrap (absent from PATH, the configured path
missing, or present but unable to start a sandbox) and without the explicit unsafe-local opt-in,
no function code runs — deploys and HTTP invokes answer 503 `sandbox_unavailable` with a message
that says how to fix it, and trigger invocations end in the dead letters with that code.

The proof that nothing ran: the function writes a marker file at a host path (harmless: it only
creates that file). Inside bubblewrap the host path does not exist, so the marker can only appear
if the code ran unsandboxed; `tests/platform/test_unsafe_local_opt_in.py` shows that it does appear
under the explicit opt-in, so its absence here means something.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BAAS_BIN
from tests.functions.conftest import deploy, invoke, settle
from tests.platform.processes import RunningProcess

pytestmark = pytest.mark.slow  # probes bubblewrap and starts baas processes (tests/process_level.py)

MARKER_FUNCTION = """
import os

from baas_runtime import on_document_created, on_http


def _leave_marker():
    with open(os.environ["MARKER"], "w") as marker:  # harmless: creates one file, nothing else
        marker.write("ran")


@on_http
def call(event, ctx):
    _leave_marker()
    return "ran"


@on_document_created("pings")
def ping(event, ctx):
    _leave_marker()
"""

HOW_TO_FIX = (
    "bubblewrap",
    "apt-get install bubblewrap",
    "dnf install bubblewrap",
    "pacman -S bubblewrap",
    "kernel.apparmor_restrict_unprivileged_userns",
    "BAAS_SANDBOX=unsafe-local",
)


def _assert_sandbox_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.content
    error = response.json()["error"]
    assert error["code"] == "sandbox_unavailable"
    for words in HOW_TO_FIX:
        assert words in error["message"], (words, error["message"])


@pytest.fixture
def failing_bwrap(tmp_path: Path) -> str:
    """A stand-in for bwrap that cannot start a sandbox (as under Ubuntu 24.04's AppArmor rule)."""
    script = tmp_path / "bwrap"
    script.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def sandbox_state(settings: Any) -> Iterator[Any]:
    """Probe again under the test's settings; afterwards, under the real ones."""
    from functions import sandbox

    yield sandbox
    settings.FUNCTIONS_BWRAP = "/usr/bin/bwrap"
    settings.BAAS_SANDBOX = "auto"
    sandbox.reprobe()


@pytest.fixture(params=["configured-path-missing", "not-on-path", "present-but-failing"])
def break_bwrap(
    request: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, failing_bwrap: str, tmp_path: Path
) -> Any:
    """Returns a callable that makes bubblewrap unusable for this process (one way per parameter)
    and probes again."""
    from functions import sandbox

    def apply() -> str:
        if request.param == "configured-path-missing":
            settings.FUNCTIONS_BWRAP = str(tmp_path / "no-such-dir" / "bwrap")
        elif request.param == "not-on-path":
            settings.FUNCTIONS_BWRAP = "bwrap"
            monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
        else:
            settings.FUNCTIONS_BWRAP = failing_bwrap
        assert sandbox.reprobe() == "unavailable", request.param
        return request.param

    return apply


def test_health_and_metrics_report_each_state(api, settings, sandbox_state, failing_bwrap) -> None:
    states = {}
    for name, bwrap, mode in (
        ("working", "/usr/bin/bwrap", "auto"),
        ("missing", "/nonexistent/bwrap", "auto"),
        ("failing", failing_bwrap, "auto"),
        ("required-but-failing", failing_bwrap, "bubblewrap"),
        ("opted-in", "/nonexistent/bwrap", "unsafe-local"),
    ):
        settings.FUNCTIONS_BWRAP, settings.BAAS_SANDBOX = bwrap, mode
        sandbox_state.reprobe()
        health = api.get("/v1/health")
        assert health.status_code == 200
        metrics = api.get("/metrics").content.decode()
        states[name] = health.json()["sandbox"]
        assert f'baas_function_sandbox_info{{sandbox="{states[name]}"}} 1.0' in metrics
    assert states == {
        "working": "bubblewrap",
        "missing": "unavailable",
        "failing": "unavailable",
        "required-but-failing": "unavailable",
        "opted-in": "unsafe-local",
    }


def test_deploy_is_refused_with_how_to_fix_it(service_api, sandbox_state, break_bwrap, tmp_path) -> None:
    break_bwrap()
    response = deploy(service_api, "marker", MARKER_FUNCTION, env={"MARKER": str(tmp_path / "ran")})
    _assert_sandbox_unavailable(response)
    assert service_api.get("/v1/functions/marker").status_code == 404
    assert not (tmp_path / "ran").exists()


def test_an_http_invoke_is_refused_and_nothing_is_recorded(
    functions_api, api, sandbox_state, break_bwrap, tmp_path
) -> None:
    from functions.models import Invocation

    marker = tmp_path / "ran"
    # Deployed while bubblewrap worked; then it stops working for this server.
    response = deploy(
        functions_api,
        "marker",
        MARKER_FUNCTION,
        invoke="public",
        env={"MARKER": str(marker)},
        permissions=["db:read:*"],
    )
    assert response.status_code == 201, response.json()
    break_bwrap()
    for client in (functions_api, api):  # the owner and an anonymous caller alike
        _assert_sandbox_unavailable(invoke(client, "marker", 1))
        _assert_sandbox_unavailable(invoke(client, "marker", 1, **{"async": "true"}))
    assert Invocation.objects.count() == 0
    time.sleep(0.5)
    assert not marker.exists()


def _broken_worker(platform: Any, how: str, failing_bwrap: str, tmp_path: Path) -> Any:
    """A private worker (with its dispatch tailer) for which bubblewrap does not work."""
    if how == "configured-path-missing":
        return platform(FUNCTIONS_BWRAP=str(tmp_path / "no-such-dir" / "bwrap"))
    if how == "not-on-path":
        empty = tmp_path / "empty-bin"
        empty.mkdir(exist_ok=True)
        return platform(FUNCTIONS_BWRAP="bwrap", PATH=str(empty))
    if how == "present-but-failing":
        return platform(FUNCTIONS_BWRAP=failing_bwrap)
    # The real /usr/bin/bwrap, present but unable to start (exec fails), for this worker only:
    # a private mount namespace with /dev/null bound over it (docs/FACTS: "Sandboxes in tests").
    running = platform()
    running.kill_worker()
    hidden = 'mount --bind /dev/null /usr/bin/bwrap && exec "$0" "$@"'
    args = ["unshare", "-m", "sh", "-c", hidden, BAAS_BIN, "worker", "--pool", "threads", "--concurrency", "2"]
    running.worker = RunningProcess(args, env=running.env)
    deadline = time.monotonic() + 30
    while "ready" not in running.worker.text:
        assert running.worker.process.poll() is None and time.monotonic() < deadline, running.worker.text
        time.sleep(0.05)
    return running


@pytest.mark.parametrize("how", ["configured-path-missing", "not-on-path", "present-but-failing", "bound-over"])
def test_a_worker_without_a_sandbox_runs_no_trigger_and_no_call(
    functions_api, platform, failing_bwrap, tmp_path, how
) -> None:
    from functions.models import Invocation

    marker = tmp_path / "ran"
    response = deploy(functions_api, "marker", MARKER_FUNCTION, env={"MARKER": str(marker)}, max_retries=2,
                      permissions=["db:read:pings"])  # fmt: skip
    assert response.status_code == 201, response.json()
    running = _broken_worker(platform, how, failing_bwrap, tmp_path)

    functions_api.post("/v1/db/collections", {"name": "pings"}, format="json")
    assert functions_api.post("/v1/db/pings", {"id": "p1", "data": {}}, format="json").status_code == 201
    (row,) = settle(Invocation.objects.filter(function__name="marker", trigger="document.created"), timeout=30)
    assert (row.status, row.attempts, row.logs) == ("dead", 1, ""), (row.status, row.error, running.text[-2000:])
    assert row.error["code"] == "sandbox_unavailable"
    assert all(words in row.error["message"] for words in HOW_TO_FIX)
    # Kept, not lost: in the dead letters, retryable by hand once bubblewrap works.
    dead = functions_api.get("/v1/functions/marker/invocations?status=dead").json()["items"]
    assert [item["id"] for item in dead] == [str(row.pk)]

    # An HTTP call the web side accepted is refused by the worker: the caller gets the 503 too.
    _assert_sandbox_unavailable(invoke(functions_api, "marker", 1))
    time.sleep(0.5)
    assert not marker.exists()
    assert "Functions cannot run" in running.worker.text  # the worker probed when it started
