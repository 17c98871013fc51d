"""Hostile TypeScript (issue #22, item 7): the attacks of tests/functions/test_hostile_functions.py
and test_sandbox_egress.py written for Deno. Each fails its own invocation with a clear error, the
worker stays healthy and the next invocation succeeds. Deno's permissions refuse most of them
before the sandbox has to (NotCapable); the sandbox and the worker's limits hold the rest."""

from __future__ import annotations

import socket
import textwrap
import threading

import pytest
from django.conf import settings

from tests.functions.conftest import deploy, invoke

HOSTILE_TS = """
import { onHttp } from "baas";
import process from "node:process";

const encoder = new TextEncoder();

function frame(message: unknown): Uint8Array {
  const body = encoder.encode(JSON.stringify(message));
  const framed = new Uint8Array(4 + body.length);
  new DataView(framed.buffer).setUint32(0, body.length);
  framed.set(body, 4);
  return framed;
}

export const attack = onHttp(async (event) => {
  const [what, arg, port] = event.payload as [string, string | null, number | null];
  switch (what) {
    case "read":
      return (await Deno.readTextFile(arg!)).slice(0, 100);
    case "read_own":
      return (await Deno.readTextFile("/function/main.ts")).includes("onHttp");
    case "list_root":
      return [...Deno.readDirSync("/")].map((entry) => entry.name);
    case "write":
      await Deno.writeTextFile(arg!, "owned");
      return "written";
    case "connect": {
      const conn = await Deno.connect({ hostname: arg!, port: port! });
      conn.close();
      return "connected";
    }
    case "fetch":
      return (await fetch(arg!)).status;
    case "run":
      return (await new Deno.Command("/bin/sh", { args: ["-c", "id"] }).output()).code;
    case "env":
      return Deno.env.toObject();
    case "ffi":
      return String(Deno.dlopen("libc.so.6", {}));
    case "kill_parent":
      Deno.kill(1, "SIGKILL");
      return "killed";
    case "exit":
      Deno.exit(3);
      return "exited";
    case "internals":
      return typeof (Deno as unknown as Record<symbol, unknown>)[(Deno as unknown as { internal: symbol }).internal];
    case "forge":
      // A frame on the protocol channel (stdout) would answer for the runtime: Deno.stdout is the logs.
      Deno.stdout.writeSync(frame({ op: "result", ok: true, value: "forged" }));
      return "real";
    case "forge_node":
      // Node's process.stdout does reach the channel, but a frame without the invocation's nonce
      // is a protocol error: the sandbox is killed, and no later caller reads the real answer.
      process.stdout.write(frame({ op: "result", ok: true, value: "forged" }));
      return "real";
    case "stdout": {
      const block = "x".repeat(1024 * 1024);
      for (let i = 0; i < 1024; i++) console.log(block);
      return "wrote 1 GB";
    }
    case "workers": {
      const workers = [];
      for (let i = 0; i < 200; i++) {
        workers.push(new Worker("data:text/javascript,while(true){}", { type: "module" }));
      }
      await new Promise((resolve) => setTimeout(resolve, 60_000));
      return workers.length;
    }
  }
  return "nothing";
});
"""

CASES = [
    # (payload, the error type or sandbox code, a fragment of the message)
    (["read", "/etc/shadow", None], "NotCapable", "read access"),
    (["read", str(settings.BASE_DIR / "baas" / "settings.py"), None], "NotCapable", "read access"),
    (["read", "/proc/1/environ", None], "NotCapable", "read access"),
    (["list_root", None, None], "NotCapable", "read access"),
    (["write", "/function/main.ts", None], "NotCapable", "write access"),
    (["write", "/tmp/owned", None], "NotCapable", "write access"),
    (["write", "/dev/shm/owned", None], "NotCapable", "write access"),
    (["connect", "127.0.0.1", 5432], "NotCapable", "net access"),
    (["connect", "127.0.0.1", 6379], "NotCapable", "net access"),
    (["fetch", "http://169.254.169.254/latest/meta-data/", None], "NotCapable", "net access"),
    (["run", None, None], "NotCapable", "run access"),
    (["env", None, None], "NotCapable", "env access"),
    (["ffi", None, None], "NotCapable", "ffi access"),
    (["kill_parent", None, None], "NotCapable", "run access"),
    (["exit", None, None], "Error", "Deno.exit is not available"),
    (["stdout", None, None], "output_limit", "bytes of output"),
    (["forge_node", None, None], "protocol_error", "out of turn"),
    # Workers spinning on two cores: the CPU budget (as many seconds as the timeout) or the wall
    # clock runs out first, depending on how much of the machine they get; or, where the pids
    # cgroup is writable, the sandbox's thread cap refuses a Worker its thread first (EAGAIN).
    (["workers", None, None], ("timeout", "cpu_limit", "EAGAIN"), ""),
]


@pytest.fixture
def hostile(functions_api):
    response = deploy(functions_api, "hostile-ts", "", files={"main.ts": textwrap.dedent(HOSTILE_TS)}, timeout=3)
    assert response.status_code == 201, response.json()
    return functions_api


def test_hostile_typescript_fails_its_own_invocation_and_the_function_keeps_serving(hostile) -> None:
    assert invoke(hostile, "hostile-ts", ["read_own", None, None]).json()["result"] is True
    failures = []
    for payload, kind, fragment in CASES:
        invocation = invoke(hostile, "hostile-ts", payload).json()["invocation"]
        error = invocation.get("error") or {}
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if invocation["status"] != "failed" or not {error.get("type"), error.get("code")} & set(kinds):
            failures.append((payload, invocation["status"], error))
        elif fragment not in error["message"]:
            failures.append((payload, "message", error["message"]))
        assert len(invocation["logs"] or "") <= settings.FUNCTIONS_LOG_BYTES + 200
        after = invoke(hostile, "hostile-ts", ["nothing", None, None]).json()
        assert after["result"] == "nothing", (payload, after)
    assert failures == []


def test_internals_and_the_protocol_channel_are_out_of_reach(hostile) -> None:
    assert invoke(hostile, "hostile-ts", ["internals", None, None]).json()["result"] == "undefined"
    forged = invoke(hostile, "hostile-ts", ["forge", None, None]).json()
    assert forged["result"] == "real", forged  # its bytes went to the logs, not to the worker
    assert invoke(hostile, "hostile-ts", ["nothing", None, None]).json()["result"] == "nothing"


@pytest.fixture
def loopback_service():
    """A TCP service on the host's loopback, as PostgreSQL or Redis would be."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            accepted.append(connection)
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()


def test_egress_goes_through_the_filtering_proxy_only(functions_api, loopback_service) -> None:
    port, accepted = loopback_service
    response = deploy(
        functions_api, "egress-ts", "", files={"main.ts": textwrap.dedent(HOSTILE_TS)}, network="egress", timeout=5
    )
    assert response.status_code == 201, response.json()
    # fetch() uses the proxy (HTTP_PROXY in Deno's own environment): loopback is refused there (403).
    for url in (f"http://127.0.0.1:{port}/", f"http://localhost:{port}/", "http://169.254.169.254/latest/meta-data/"):
        result = invoke(functions_api, "egress-ts", ["fetch", url, None]).json()
        assert result["result"] == 403, (url, result)
    # A direct connection meets the sandbox's own, empty network namespace.
    direct = invoke(functions_api, "egress-ts", ["connect", "127.0.0.1", port]).json()["invocation"]
    assert direct["status"] == "failed" and direct["error"]["type"] == "ConnectionRefused", direct["error"]
    assert accepted == []
    # Still no files, environment or subprocesses with egress.
    assert invoke(functions_api, "egress-ts", ["env", None, None]).json()["invocation"]["error"]["type"] == "NotCapable"
