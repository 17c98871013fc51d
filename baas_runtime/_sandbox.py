"""The process that runs inside the sandbox: loads the function once, then serves invocations.

Started by the worker as `python3 -I -S -c "…import baas_runtime._sandbox…"` with fd 0 carrying
frames from the worker and fd 1 carrying frames to it. Before any user code runs it moves those
two channels off the standard descriptors (user `print` goes to fd 2, which the worker captures
as logs), reads the `init` frame, applies the resource limits and the function's environment,
imports the entry module and reports the triggers it declared. Then it loops: `invoke` →
`result`, forever, so that module-level state survives between invocations (warm starts).

After each invocation it empties the scratch folders (`/tmp`, `/dev/shm`) of what that invocation
wrote, and cancels interval timers, so nothing of one caller's invocation is left for the next
caller. What the module wrote there while importing stays; an invocation that changed such a file
asks to be recycled (`"recycle"` in its result). These are courtesies to honest code: the worker
checks from outside (functions/sandbox/process.py) that nothing of an invocation runs on.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import shutil
import signal
import stat
import sys
import traceback
from typing import Any

from baas_runtime import _bridge, _http, _protocol, _registry

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    egress_socket = _option(sys.argv[1:], "--egress")
    if egress_socket:  # first of all: the forwarder must be the sandbox's first child (PID 3)
        from baas_runtime import _egress

        _egress.start(egress_socket)
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    for fd in (proto_in, proto_out):
        os.set_inheritable(fd, False)
    sys.stdout = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115

    init = _protocol.read_frame(proto_in)
    marker = ("\x00\x1e" + str(init["marker"]) + "\n").encode()
    _apply_limits(init.get("limits") or {})
    scratch = _Scratch(init.get("scratch_dirs") or [])
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in (init.get("env") or {}).items()})
    if egress_socket:
        os.environ.update(_egress.environment())
    code_dir = init["code_dir"]
    sys.path.insert(0, code_dir)
    # Packages the operator chose to offer (Pillow by default), after the standard library; -I -S
    # keep every other site folder of the system's Python off the path.
    sys.path.extend(str(folder) for folder in init.get("site_dirs") or [])
    os.chdir(code_dir)
    sys.dont_write_bytecode = True
    _bridge.connect(read_fd=proto_in, write_fd=proto_out)

    try:
        importlib.import_module(init["entry"])
    except BaseException as exc:  # a syntax error, an import error, anything at module level
        _end_output(marker)
        _protocol.write_frame(proto_out, {"op": "load_error", "error": _describe(exc)})
        return
    scratch.remember()  # what the import wrote to /tmp may stay: it holds no caller's data
    _end_output(marker)
    _protocol.write_frame(proto_out, {"op": "ready", "triggers": _registry.triggers})

    while True:
        try:
            message = _protocol.read_frame(proto_in)
        except _protocol.ProtocolError:
            return  # the worker closed the channel: the sandbox is being retired
        if message.get("op") != "invoke":
            return
        reply = _invoke(message)
        _stop_timers()
        if not scratch.reset():
            reply["recycle"] = "the invocation changed a file the module wrote to /tmp or /dev/shm, or left one behind"
        _end_output(marker)
        try:
            _protocol.write_frame(proto_out, reply)
        except _protocol.ProtocolError as exc:
            reply = {"op": "result", "ok": False, "error": _describe(exc)}
            _protocol.write_frame(proto_out, reply)


def _option(arguments: list[str], name: str) -> str | None:
    """The value after `name` in the launcher's arguments (`python -c BOOT --egress PATH`)."""
    if name in arguments[:-1]:
        return arguments[arguments.index(name) + 1]
    return None


def _invoke(message: dict[str, Any]) -> dict[str, Any]:
    import baas_runtime

    context = baas_runtime.Context(**(message.get("ctx") or {}))
    baas_runtime._CurrentContext.current = context
    handler = _registry.handlers.get(message.get("handler", ""))
    if handler is None:
        return {
            "op": "result",
            "ok": False,
            "error": {
                "type": "LookupError",
                "message": f"no handler named {message.get('handler')!r}",
                "traceback": "",
            },
        }
    event = message.get("event") or {}
    if context.trigger == "http":
        event = _http.event_for_handler(event)  # the raw body as bytes
    try:
        value = handler(event, context)
        if isinstance(value, _http.HttpResponse):
            value = value.to_wire()  # the one wire of an HTTP answer (baas_runtime/_http.py)
        json.dumps(value)  # the result travels as JSON: fail here, in the user's invocation
    except BaseException as exc:  # SystemExit too: a function cannot stop its sandbox that way
        return {"op": "result", "ok": False, "error": _describe(exc)}
    finally:
        baas_runtime._CurrentContext.current = baas_runtime.Context()
    return {"op": "result", "ok": True, "value": value}


def _apply_limits(limits: dict[str, int]) -> None:
    """Set every resource limit before user code exists, soft == hard: the code can lower them but
    never raise one again (not even its soft CPU limit up to a higher hard one). Limits the platform
    does not choose keep their current soft value, which becomes the hard one too. The CPU limit is
    the sandbox's lifetime budget; the per-invocation budget is enforced by the worker from outside."""
    names = {
        "cpu_seconds": resource.RLIMIT_CPU,
        "address_space_bytes": resource.RLIMIT_AS,
        "processes": resource.RLIMIT_NPROC,
        "file_size_bytes": resource.RLIMIT_FSIZE,
        "open_files": resource.RLIMIT_NOFILE,
        "core_bytes": resource.RLIMIT_CORE,
    }
    chosen = {names[name]: int(value) for name, value in limits.items() if name in names and value is not None}
    for name in dir(resource):
        if not name.startswith("RLIMIT_"):
            continue
        which = getattr(resource, name)
        if which in chosen:
            resource.setrlimit(which, (chosen[which], chosen[which]))
            continue
        with contextlib.suppress(ValueError, OSError):  # a limit this kernel does not know
            soft, _hard = resource.getrlimit(which)
            resource.setrlimit(which, (soft, soft))


def _stop_timers() -> None:
    """Interval timers and alarms set by the handler would fire while the sandbox idles."""
    for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
        with contextlib.suppress(OSError):
            signal.setitimer(timer, 0)


class _Scratch:
    """The writable scratch folders (`/tmp`, `/dev/shm` in a bubblewrap sandbox; none elsewhere)."""

    def __init__(self, folders: list[str]) -> None:
        self.folders = [str(folder) for folder in folders]
        self.kept: dict[str, tuple[int, int, int]] = {}

    def remember(self) -> None:
        self.kept = {path: _identity(info) for path, info in self._entries()}

    def reset(self) -> bool:
        """Remove what is new since `remember()`; False if a remembered file was changed or
        something could not be removed."""
        try:
            return self._reset()
        except Exception:
            return False

    def _reset(self) -> bool:
        unchanged = True
        for path, info in self._entries():
            kept = self.kept.get(path)
            if kept is None:
                unchanged &= _remove(path, info)
            elif not stat.S_ISDIR(info.st_mode) and kept != _identity(info):
                unchanged = False
        return unchanged

    def _entries(self) -> list[tuple[str, os.stat_result]]:
        found: list[tuple[str, os.stat_result]] = []
        for folder in self.folders:
            for root, dirs, files in os.walk(folder):
                for name in dirs:  # a folder the code made unreadable must still be emptied
                    path = os.path.join(root, name)
                    with contextlib.suppress(OSError):
                        if not os.path.islink(path):
                            os.chmod(path, 0o700)
                for name in dirs + files:
                    path = os.path.join(root, name)
                    with contextlib.suppress(OSError):
                        found.append((path, os.lstat(path)))
        return found


def _identity(info: os.stat_result) -> tuple[int, int, int]:
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _remove(path: str, info: os.stat_result) -> bool:
    try:
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass  # inside a folder removed a moment ago
    except OSError:
        return False
    return True


def _end_output(marker: bytes) -> None:
    """Flush the function's output and mark where this invocation's logs end."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(OSError):
        os.write(2, marker)


def _describe(exc: BaseException) -> dict[str, Any]:
    """The user's traceback: frames of this runtime and of importlib are left out."""
    summary = traceback.TracebackException.from_exception(exc, limit=50)
    _strip_our_frames(summary)
    text = "".join(summary.format())
    described = {"type": type(exc).__name__, "message": str(exc)[:2000], "traceback": text[-16000:]}
    code = getattr(exc, "code", None)  # the function's own error code (e.g. BaasError's), shown to callers
    if isinstance(code, str) and code:
        described["code"] = code[:100]
    return described


def _strip_our_frames(summary: traceback.TracebackException) -> None:
    seen: set[int] = set()
    while summary is not None and id(summary) not in seen:
        seen.add(id(summary))
        kept = [
            frame
            for frame in summary.stack
            if not frame.filename.startswith(_RUNTIME_DIR) and not frame.filename.startswith("<frozen ")
        ]
        summary.stack = traceback.StackSummary.from_list(kept)
        summary = summary.__cause__ or summary.__context__  # type: ignore[assignment]


if __name__ == "__main__":
    main()
