"""Deno sandboxes driven directly (no worker, no database), as tests/functions/sandboxes.py does for
Python: nothing of one invocation runs on into the next (timers, intervals, pending operations,
workers, stray errors recycle the sandbox), a quiet one stays warm, the launch is what the docs say."""

from __future__ import annotations

import hashlib
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from functions.sandbox.pool import SandboxPool
from functions.sandbox.process import Outcome, SandboxProcess, SandboxSpec, _descendants
from tests.conftest import service_missing
from tests.functions.sandboxes import bubblewrap

pytestmark = pytest.mark.slow  # starts sandboxes (tests/process_level.py)

LEFTOVERS_TS = """
import { onHttp } from "baas";

const imported = Date.now();

export const probe = onHttp(async (event) => {
  const { what, secret } = (event.payload ?? event) as { what: string; secret?: string };
  console.log("start", secret ?? "");
  if (what === "timer") setTimeout(() => console.log("LEFTOVER", secret), 150);
  if (what === "interval") setInterval(() => console.log("LEFTOVER", secret), 50);
  if (what === "unref") Deno.unrefTimer(setTimeout(() => console.log("LEFTOVER", secret), 150));
  if (what === "pending") new Promise((resolve) => setTimeout(resolve, 5_000)).then(() => console.log("LEFTOVER"));
  if (what === "worker") new Worker("data:text/javascript,setInterval(() => {}, 1000)", { type: "module" });
  if (what === "rejection") Promise.reject(new Error("nobody catches " + secret));
  if (what === "cleared") clearTimeout(setTimeout(() => console.log("LEFTOVER"), 50));
  if (what === "awaited") await new Promise((resolve) => setTimeout(resolve, 20));
  if (what === "threads") return { imported };
  return "done";
});
"""


def spec_for(source: str, *, timeout: int = 5, memory: int = 128, network: str = "none") -> SandboxSpec:
    from functions import services
    from functions.models import FunctionVersion
    from functions.sandbox.paths import code_dir

    files = {"main.ts": textwrap.dedent(source).encode()}
    digest = hashlib.sha256(files["main.ts"] + b"deno" + network.encode()).hexdigest()[:32]
    limits = services.limits_for(FunctionVersion(timeout=timeout, memory=memory))
    return SandboxSpec(
        key=f"test-deno-{digest}",
        code_dir=code_dir(digest, files),
        entry="main.ts",
        env={},
        network=network,
        limits=limits,
        runtime="deno",
    )


@contextmanager
def sandbox(source: str, **options: Any) -> Iterator[SandboxProcess]:
    process = SandboxProcess(spec_for(source, **options), bubblewrap())
    process.start()
    try:
        yield process
    finally:
        process.kill()


def call(process: SandboxProcess, event: dict[str, Any]) -> Outcome:
    return process.invoke(handler="probe", event=event, ctx={}, timeout=10, on_call=lambda method, args: {})


@pytest.mark.parametrize("what", ["timer", "interval", "unref", "pending", "worker", "rejection"])
def test_work_left_running_recycles_the_sandbox(what: str) -> None:
    with sandbox(LEFTOVERS_TS) as process:
        assert call(process, {"what": "nothing"}).value == "done"
        assert process.alive, "a quiet invocation keeps its warm sandbox"
        outcome = call(process, {"what": what, "secret": "alice-secret"})
        assert "the sandbox was recycled" in outcome.logs, outcome
        assert "LEFTOVER" not in outcome.logs
        assert not process.alive
        assert process._process is not None
        assert _descendants(process._process.pid, process._launch.user) == {}, "the leftover still runs"


@pytest.mark.parametrize("what", ["cleared", "awaited", "nothing"])
def test_work_that_ended_keeps_the_sandbox_warm(what: str) -> None:
    with sandbox(LEFTOVERS_TS) as process:
        for _ in range(3):
            outcome = call(process, {"what": what})
            assert outcome.ok and outcome.value == "done", outcome
        assert process.alive and process.uses == 3


def test_the_next_caller_never_sees_the_leftover_output() -> None:
    """Through the warm pool, as the worker uses it."""
    pool = SandboxPool(size=2, idle_seconds=60, max_uses=100)
    spec = spec_for(LEFTOVERS_TS)
    first, warm = pool.acquire(spec, bubblewrap())
    try:
        assert not warm
        alice = call(first, {"what": "interval", "secret": "alice-secret"})
    finally:
        pool.release(first)
    time.sleep(0.3)
    second, warm = pool.acquire(spec, bubblewrap())
    try:
        bob = call(second, {"what": "nothing", "secret": "bob"})
        again = call(second, {"what": "nothing", "secret": "bob-again"})
    finally:
        pool.release(second)
    reused, warm_again = pool.acquire(spec, bubblewrap())
    pool.release(reused)
    pool.retire()
    assert alice.ok and bob.ok and again.ok
    assert second is not first and not warm
    assert "alice" not in bob.logs + again.logs and "start bob" in bob.logs
    assert reused is second and warm_again  # a quiet Deno sandbox is reused despite V8's threads


OLD_SPACE_TS = """
import { onHttp } from "baas";
import { getHeapSpaceStatistics } from "node:v8";

export const probe = onHttp((event) => {
  if (!(event.payload as { measure?: boolean }).measure) return null;
  return getHeapSpaceStatistics().find((space) => space.space_name === "old_space")?.space_used_size;
});
"""


def test_a_warm_process_does_not_grow_with_its_invocations() -> None:
    """What the runtime does around each invocation (the timer that keeps the event loop alive, the
    read of the next frame, the leftovers check) leaves nothing behind in V8's old space: with Deno's
    leak tracing on, every timer and pending read it saw stayed there, ~5 KiB per invocation."""
    with sandbox(OLD_SPACE_TS) as process:
        for _ in range(50):
            assert call(process, {"payload": {}}).ok
        before = call(process, {"payload": {"measure": True}}).value
        for _ in range(1500):
            assert call(process, {"payload": {}}).ok
        after = call(process, {"payload": {"measure": True}}).value
    assert after - before < 1.5 * 1024 * 1024, (before, after)


ECHO_TS = """
import { onHttp } from "baas";

export const probe = onHttp((event) => event.payload);
"""


def test_frames_of_any_size_cross_the_channel_intact() -> None:
    """The runtime reads stdin through one reused 64 KiB buffer: frames shorter than it, exactly
    around it and many times its size arrive whole, one after another, in one warm sandbox."""
    with sandbox(ECHO_TS) as process:
        for size in (0, 1, 65_500, 65_536, 65_540, 200_000, 1_500_000, 3):
            text = "".join(chr(ord("a") + index % 26) for index in range(size))
            outcome = call(process, {"payload": {"text": text, "size": size}})
            assert outcome.ok and outcome.value == {"text": text, "size": size}, (size, outcome.error)
        assert process.alive and process.uses == 8


def test_deno_runs_with_its_permissions_and_limits_as_documented() -> None:
    with sandbox(LEFTOVERS_TS, memory=96) as process:
        assert process._process is not None and process._launch is not None
        assert call(process, {"what": "threads"}).ok
        found = _descendants(process._process.pid, process._launch.user)
        runtime = next(
            pid for pid, info in found.items() if info.ns_pid == 2 and b"deno" in _cmdline(pid).split(b"\0")[0]
        )
        argv = _cmdline(runtime).split(b"\0")
        assert argv[1] == b"run"
        assert b"--allow-read=/function,/opt/baas/baas_runtime/deno" in argv
        v8_flags = b"--max-old-space-size=96,--single-threaded,--no-maglev"
        assert b"--v8-flags=" + v8_flags in argv
        # The config and import map are the launcher's (the bundle's deno.json cleaned), never the bundle's.
        assert argv[argv.index(b"--config") + 1] == b"/tmp/.deno/deno.json"
        assert argv[argv.index(b"--import-map") + 1] == b"/tmp/.deno/import_map.json"
        assert {b"--no-lock", b"--no-remote", b"--no-npm", b"--cached-only"} <= set(argv)
        assert b"--no-code-cache" in argv  # its DENO_DIR is the sandbox's own tmpfs: never read again
        assert not [arg for arg in argv if arg.startswith((b"--allow-net", b"--allow-env", b"--allow-run", b"-A"))]
        limits = _limits(runtime)
        assert limits["Max address space"] == (str(64 * 1024**3), str(64 * 1024**3))
        assert limits["Max processes"] == ("32", "32")
        assert limits["Max open files"] == ("256", "256")
        assert all(soft == hard for soft, hard in limits.values())
        assert found[runtime].threads > 1  # V8's own threads: allowed for Deno


def _cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read()


def _limits(pid: int) -> dict[str, tuple[str, str]]:
    limits = {}
    with open(f"/proc/{pid}/limits") as handle:
        for line in handle.readlines()[1:]:
            name, soft, hard = line[:26].strip(), line[26:47].strip(), line[47:68].strip()
            limits[name] = (soft, hard)
    return limits


FETCH_TS = """
import { onHttp } from "baas";

export const probe = onHttp(async (event) => {
  const { url } = event as unknown as { url: string };
  const response = await fetch(url);
  return [response.status, await response.text()];
});
"""


@pytest.fixture
def loopback_server() -> Iterator[int]:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"hello from loopback {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_egress_fetch_goes_through_the_filtering_proxy(loopback_server: int, settings) -> None:
    """Deno's fetch uses the proxy from its own environment: refused targets get the proxy's 403, an
    allowed network is reached through it, and the forwarder does not count as work left running."""
    with sandbox(FETCH_TS, network="egress", timeout=20) as process:
        refused = call(process, {"url": f"http://127.0.0.1:{loopback_server}/secret"})
        assert refused.ok and refused.value[0] == 403 and "loopback" in refused.value[1], refused
        settings.FUNCTIONS_EGRESS_ALLOW = ["127.0.0.1/32"]
        allowed = call(process, {"url": f"http://127.0.0.1:{loopback_server}/plain"})
        assert allowed.ok and allowed.value == [200, "hello from loopback /plain"], allowed
        assert process.alive, "a quiet egress sandbox stays warm"


BUFFERS_TS = """
import { onHttp } from "baas";

const hoard: Uint8Array[] = [];

export const probe = onHttp(() => {
  // Outside V8's heap: only the cgroup's memory limit holds these.
  while (true) hoard.push(new Uint8Array(16 * 1024 * 1024).fill(1));
});
"""


def test_buffers_outside_the_heap_meet_the_cgroup_limit() -> None:
    from functions.sandbox.bubblewrap import _cgroup_roots

    if "memory" not in _cgroup_roots():
        # The machines CI runs on have one; REQUIRE_SERVICES=1 turns its absence into a failure.
        service_missing("a writable cgroup v1 memory controller (buffers outside V8's heap are unbounded without it)")
    with sandbox(BUFFERS_TS, memory=64, timeout=20) as process:
        outcome = call(process, {})
    assert not outcome.ok and outcome.error is not None
    assert outcome.error["code"] == "crashed", outcome.error
    assert not process.alive
