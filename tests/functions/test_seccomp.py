"""The seccomp filter (functions/sandbox/seccomp.py): every denied call fails inside a real sandbox
(EPERM; ENOSYS for clone3), the filter itself decides it (the same calls succeed in a sandbox whose
root holds every capability of its own namespaces, until the filter is added), the numbers match
libseccomp's tables, and ordinary Python (threads, subprocesses) still works."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import platform
import subprocess
from pathlib import Path

import pytest

from functions.sandbox import seccomp
from functions.sandbox.bubblewrap import root_entries
from tests.conftest import service_missing
from tests.functions.sandboxes import sandbox, value

pytestmark = pytest.mark.slow  # starts sandboxes (tests/process_level.py)

SYSCALL = """
import ctypes, os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def syscall(number, *args):
    ctypes.set_errno(0)
    values = [ctypes.c_char_p(a.encode()) if isinstance(a, str) else ctypes.c_long(a) for a in args]
    result = libc.syscall(ctypes.c_long(number), *values)
    if result == 0 and number in CLONES:  # a clone that worked: this is the child
        os._exit(0)
    if result > 0 and number in CLONES:
        os.waitpid(result, 0)
    return [result, ctypes.get_errno()]
"""

PROBE = (
    SYSCALL
    + """
import subprocess, sys, threading
from baas_runtime import on_http

CLONES = set()

@on_http
def probe(event, ctx):
    CLONES.update(event.get("clones", []))
    if event.get("normal"):
        seen = []
        thread = threading.Thread(target=lambda: seen.append(threading.get_native_id()))
        thread.start()
        thread.join()
        child = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True, timeout=10)
        return {"thread": len(seen), "child": child.stdout.strip()}
    return {name: syscall(number, *args) for name, number, args in event["calls"]}
"""
)

AT_FDCWD = -100
CLONE_NEWNS = 0x00020000
SIGCHLD = 17
CLONE = {"x86_64": 56, "aarch64": 220}.get(platform.machine(), -1)


def _arguments(name: str) -> list[object]:
    """Arguments that would pass the kernel's own checks where possible (so EPERM is the filter's)."""
    return {
        "open_tree": [AT_FDCWD, "/", 0],
        "fspick": [AT_FDCWD, "/", 0],
        "fsopen": ["tmpfs", 0],
        "unshare": [0],
    }.get(name, [0, 0, 0, 0, 0])


def _every_denied_call() -> list[list[object]]:
    return [[name, number, _arguments(name)] for name, number in seccomp.denied_numbers().items()]


@pytest.fixture(scope="module")
def prober():
    if not seccomp.available():
        pytest.fail(f"no seccomp filter for {platform.machine()}")
    with sandbox(PROBE) as process:
        yield process


def test_every_denied_call_fails_with_eperm_inside_a_sandbox(prober) -> None:
    seen = value(prober, {"calls": _every_denied_call()})
    wrong = {name: answer for name, answer in seen.items() if answer != [-1, errno.EPERM]}
    assert wrong == {}, "these calls were not refused with EPERM"
    assert {"open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr"} <= set(seen)
    assert "kexec_file_load" in seen


def test_clone3_answers_enosys_and_clone_refuses_namespace_flags(prober) -> None:
    calls = [
        ["clone3", seccomp.CLONE3, [0, 0]],
        ["clone_newns", CLONE, [CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0]],
        ["clone_newnet", CLONE, [0x40000000 | SIGCHLD, 0, 0, 0, 0]],
    ]
    seen = value(prober, {"calls": calls, "clones": [seccomp.CLONE3, CLONE]})
    assert seen == {
        "clone3": [-1, errno.ENOSYS],
        "clone_newns": [-1, errno.EPERM],
        "clone_newnet": [-1, errno.EPERM],
    }


def test_threads_and_subprocesses_still_work(prober) -> None:
    assert value(prober, {"normal": True}) == {"thread": 1, "child": "42"}


def _privileged_probe(tmp_path: Path, *, with_filter: bool) -> dict[str, list[int]]:
    """The namespace-capable calls, run as root of a fresh user namespace with every capability in
    it (none on the host), with or without the filter: only the filter can refuse them there."""
    calls = [[name, seccomp.denied_numbers()[name], _arguments(name)] for name in ("open_tree", "fspick", "fsopen")]
    calls += [["unshare", seccomp.denied_numbers()["unshare"], [CLONE_NEWNS]]]
    calls += [["clone_newns", CLONE, [CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0]], ["clone3", seccomp.CLONE3, [0, 0]]]
    script = tmp_path / "probe.py"
    script.write_text(
        SYSCALL
        + f"\nimport json\nCLONES = {{{CLONE}, {seccomp.CLONE3}}}\n"
        + f"print(json.dumps({{name: syscall(number, *args) for name, number, args in {calls!r}}}))\n"
    )
    script.chmod(0o644)
    argv = ["bwrap", "--unshare-all", "--unshare-user", "--uid", "0", "--gid", "0", "--cap-add", "ALL"]
    argv += ["--ro-bind", "/usr", "/usr", *root_entries(), "--dev", "/dev", "--ro-bind", str(script), "/probe.py"]
    pass_fds: tuple[int, ...] = ()
    if with_filter:
        fd = os.memfd_create("probe-seccomp", 0)
        os.write(fd, seccomp.program())
        os.lseek(fd, 0, os.SEEK_SET)
        argv += ["--seccomp", str(fd)]
        pass_fds = (fd,)
    try:
        done = subprocess.run(
            [*argv, "/usr/bin/python3", "-I", "-S", "/probe.py"], capture_output=True, text=True, pass_fds=pass_fds
        )
    finally:
        for fd in pass_fds:
            os.close(fd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_filter_is_what_refuses_them(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        service_missing("root (bwrap --cap-add needs it outside the sandbox)")  # CI runs as root
    without = _privileged_probe(tmp_path, with_filter=False)
    assert all(result >= 0 for result, _ in list(without.values())[:-1]), without  # all worked
    assert without["clone3"] == [-1, errno.EINVAL]  # a real clone3, refusing a null argument
    with_filter = _privileged_probe(tmp_path, with_filter=True)
    assert with_filter == {name: [-1, errno.EPERM] for name in without} | {"clone3": [-1, errno.ENOSYS]}


def test_the_numbers_match_libseccomp() -> None:
    name = ctypes.util.find_library("seccomp")
    if name is None:
        pytest.fail("libseccomp is missing (apt-get install libseccomp2)")
    library = ctypes.CDLL(name)
    library.seccomp_syscall_resolve_name.restype = ctypes.c_int
    resolve = library.seccomp_syscall_resolve_name
    expected = {call: resolve(call.encode()) for call in seccomp.denied_numbers()}
    known = {call: number for call, number in expected.items() if number >= 0}  # an old libseccomp may not know one
    assert {call: seccomp.denied_numbers()[call] for call in known} == known
    assert len(known) >= len(expected) - 2
    assert resolve(b"clone3") == seccomp.CLONE3
    assert resolve(b"clone") == CLONE
