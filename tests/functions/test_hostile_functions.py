"""Hostile functions: each fails its own invocation with a clear error, the worker stays healthy
and the next invocation succeeds. Real bubblewrap sandboxes, a real worker process."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.functions.conftest import HELLO, deploy, invoke

HOSTILE = """
import ctypes, os, socket, subprocess, sys, time
from baas_runtime import on_http

def connect(host, port):
    s = socket.socket()
    s.settimeout(3)
    s.connect((host, port))
    return "connected"

@on_http
def attack(event, ctx):
    what, arg = event["payload"][:2]
    if what == "read":
        return open(arg, "rb").read()[:100].decode("latin-1")
    if what == "write":
        with open(arg, "w") as f:
            f.write("owned")
        return "written"
    if what == "connect":
        return connect(arg, int(event["payload"][2]))
    if what == "fork_bomb":
        while True:
            try:
                os.fork()
            except OSError:
                pass
    if what == "memory_bomb":
        chunks = []
        while True:
            chunks.append(bytearray(50 * 1024 * 1024))
    if what == "loop":
        while True:
            pass
    if what == "stdout":
        block = "x" * (1024 * 1024)
        for _ in range(1024):
            sys.stdout.write(block)
        return "wrote 1 GB"
    if what == "fill_tmp":
        for index in range(1000):  # many files: each stays under the file-size limit
            with open(f"/tmp/fill{index}", "wb") as f:
                for _ in range(8):
                    f.write(b"x" * (1024 * 1024))
    if what == "kill_parent":
        os.kill(os.getppid(), 9)
        return "parent killed"
    if what == "ptrace":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.ptrace(16, 1, 0, 0) != 0:  # PTRACE_ATTACH to the sandbox's init
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        return "attached"
    if what == "sleep":
        time.sleep(60)
    return "nothing"
"""


@pytest.fixture
def hostile(functions_api):
    for name, code, settings_ in (("hostile", HOSTILE, {"timeout": 2, "memory": 128}), ("healthy", HELLO, {})):
        response = deploy(functions_api, name, code, **settings_)
        assert response.status_code == 201, response.json()
    return functions_api


CASES = [
    # (payload, the error type or sandbox code, a fragment of the message)
    (["read", "/etc/shadow"], "FileNotFoundError", "/etc/shadow"),
    (["read", str(settings.BASE_DIR / "baas" / "settings.py")], "FileNotFoundError", "settings.py"),
    (["read", "/proc/1/environ"], "FileNotFoundError", "/proc/1/environ"),
    (["write", "/function/main.py"], "OSError", "Read-only file system"),
    (["write", "/usr/owned"], "OSError", "Read-only file system"),
    (["write", "/owned"], "OSError", "Read-only file system"),
    (["connect", "127.0.0.1", 5432], "ConnectionRefusedError", "refused"),
    (["connect", "127.0.0.1", 6379], "ConnectionRefusedError", "refused"),
    (["connect", "10.255.255.1", 80], "OSError", "unreachable"),
    (["fork_bomb", None], "timeout", "timeout"),
    (["memory_bomb", None], "MemoryError", ""),
    (["loop", None], "timeout", "timeout"),
    (["stdout", None], "output_limit", "bytes of output"),
    (["fill_tmp", None], "OSError", "No space left"),
    (["kill_parent", None], "PermissionError", "not permitted"),
    (["ptrace", None], "PermissionError", "not permitted"),
    (["sleep", None], "timeout", "2 s timeout"),
]


@pytest.mark.parametrize(("payload", "kind", "fragment"), CASES, ids=[c[0][0] + ":" + str(c[0][1]) for c in CASES])
def test_it_fails_the_hostile_invocation_and_keeps_serving(hostile, payload, kind, fragment) -> None:
    response = invoke(hostile, "hostile", payload)
    assert response.status_code == 200, response.json()
    invocation = response.json()["invocation"]
    assert invocation["status"] == "failed", invocation
    error = invocation["error"]
    assert kind in (error.get("type"), error.get("code")), error
    assert fragment in error["message"], error
    assert len(invocation["logs"]) <= settings.FUNCTIONS_LOG_BYTES + 200
    # The worker is healthy: another function, and the same one, still run.
    assert invoke(hostile, "healthy", "ok").json()["result"]["echo"] == "ok"
    assert invoke(hostile, "hostile", ["nothing", None]).json()["result"] == "nothing"
