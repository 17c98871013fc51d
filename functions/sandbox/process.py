"""One sandboxed Python process: start it, load the function, invoke it, enforce the clock.

The isolation kind (`bubblewrap`, `unsafe_local`) only decides how the process is launched;
everything said here holds for both. The worker talks to the process over its stdin/stdout with
length-prefixed JSON frames (`baas_runtime._protocol`); the function's own output arrives on
stderr and is kept, bounded, as the invocation's logs.

Nothing of one invocation may reach the next (another caller's): after every invocation the worker
looks at the sandbox's processes from outside (/proc, `_Tree`) and kills the sandbox instead of
reusing it when anything but the runtime's single thread is left (a thread, a child process, an
orphan); output that arrives between invocations kills it as well and is dropped; the
per-invocation CPU budget is measured from outside, so the code cannot lift it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from baas_runtime import _protocol
from functions.sandbox import paths
from functions.sandbox.deno import check_seed_folder, deno_check_error, store_prepared

logger = logging.getLogger("baas.functions.sandbox")

# What runs first inside the sandbox: put the runtime on the path and hand over to it.
BOOT = "import sys; sys.path.insert(0, {runtime!r}); from baas_runtime._sandbox import main; main()"
# The same for a Deno sandbox: a small Python launcher sets limits (and, at deploy, type-checks),
# then becomes `deno run runtime.ts` (baas_runtime/_deno_launch.py).
BOOT_DENO = "import sys; sys.path.insert(0, {runtime!r}); from baas_runtime._deno_launch import main; main()"
PYTHON, DENO = "python", "deno"
RUNTIMES = (PYTHON, DENO)
# V8 reserves a large virtual-memory cage at start (VmPeak ~50 GiB here) and dies with SIGTRAP under
# an address-space rlimit of 16 GiB or less (../shared/FACTS.md). Deno's memory is limited by V8's
# heap limit (--max-old-space-size) and the cgroup instead; this rlimit only keeps the cage possible.
DENO_ADDRESS_SPACE_BYTES = 64 * 1024**3
# `deno check` at deploy loads TypeScript's compiler: ~220 MiB and ~1.3 s of CPU here.
DENO_CHECK_MEMORY_MB = 1024
DENO_CHECK_SECONDS = 120.0
# Where the dependency step's writable output folder appears inside the sandbox.
BUILD_DIR = "/build"


@dataclass(frozen=True)
class Limits:
    timeout: float  # wall clock per invocation, seconds
    memory_mb: int  # address space of each process
    cpu_seconds: int  # CPU time per invocation (lifetime cap = lifetime_cpu_seconds)
    lifetime_cpu_seconds: int
    processes: int
    file_size_bytes: int
    open_files: int
    tmp_bytes: int
    log_bytes: int  # logs kept per invocation
    output_kill_bytes: int  # output beyond this kills the sandbox
    load_timeout: float  # importing the module

    @classmethod
    def configured(cls, *, timeout: float, memory_mb: int, cpu_seconds: int) -> Limits:
        """A function's own limits beside the machine-wide ones from settings (FUNCTIONS_*)."""
        return cls(
            timeout=timeout,
            memory_mb=memory_mb,
            cpu_seconds=cpu_seconds,
            lifetime_cpu_seconds=settings.FUNCTIONS_LIFETIME_CPU_SECONDS,
            processes=settings.FUNCTIONS_MAX_PROCESSES,
            file_size_bytes=settings.FUNCTIONS_MAX_FILE_BYTES,
            open_files=settings.FUNCTIONS_MAX_OPEN_FILES,
            tmp_bytes=settings.FUNCTIONS_TMP_BYTES,
            log_bytes=settings.FUNCTIONS_LOG_BYTES,
            output_kill_bytes=settings.FUNCTIONS_OUTPUT_KILL_BYTES,
            load_timeout=float(settings.FUNCTIONS_LOAD_TIMEOUT),
        )

    def rlimits(self, runtime: str = PYTHON) -> dict[str, int]:
        return {
            "cpu_seconds": self.lifetime_cpu_seconds,
            "address_space_bytes": DENO_ADDRESS_SPACE_BYTES if runtime == DENO else self.memory_mb * 1024 * 1024,
            "processes": self.processes,
            "file_size_bytes": self.file_size_bytes,
            "open_files": self.open_files,
            "core_bytes": 0,
        }


@dataclass(frozen=True)
class SandboxSpec:
    """Everything needed to start a sandbox for one function version."""

    key: str  # pool key: one per version (its files, env and limits are immutable)
    code_dir: Path  # host folder with the function's files, readable by the sandbox uid
    entry: str  # module to import
    env: dict[str, str]  # environment variables and decrypted secrets
    network: str  # "none" | "egress"
    limits: Limits
    function: str = ""
    version: int = 0
    # Writes `code_dir` again if a cleaner removed it (the files, from the stored bundle).
    files: Callable[[], dict[str, bytes]] | None = field(default=None, compare=False, repr=False)
    runtime: str = PYTHON  # "python" | "deno"; a Deno `entry` is a path in the bundle (main.ts)
    check: bool = False  # Deno at deploy: `deno check` the entry before loading it
    # Deno: the code folder holds the version's resolved dependencies (`.deps`, used read-only).
    dependencies: bool = False
    # Deno at deploy, the dependency step (functions/dependencies.py): a writable host folder the
    # launcher leaves the resolved cache in, and the package registries (URLs by kind, "npm"/"jsr")
    # the sandbox may reach through a proxy that lets nothing else through.
    build_dir: Path | None = None
    # Deno: check this bundle (a fixed one of ours) and hand over the type checker's caches, as the
    # seed every deploy's check starts from (functions/dependencies.py, ensure_check_seed).
    seed: bool = False
    registries: tuple[tuple[str, str], ...] = ()


@dataclass
class Launch:
    """How an isolation kind starts the process; produced by its `launch()`."""

    argv: list[str]
    code_dir: str  # where the function's files appear inside the sandbox
    runtime_dir: str  # where the folder holding `baas_runtime` appears inside
    site_dirs: tuple[str, ...] = ()  # extra import folders inside (FUNCTIONS_SANDBOX_PACKAGES)
    env: dict[str, str] = field(default_factory=dict)
    user: int | None = None
    group: int | None = None
    pass_fds: tuple[int, ...] = ()
    cwd: str | None = None
    close_after_start: tuple[int, ...] = ()
    cleanup: Callable[[], None] | None = None
    own_process_group: bool = False
    # Re-applies the per-version limits set at launch outside the process (cgroups), for a
    # sandbox started before its version was known (functions/sandbox/zygote.py).
    relimit: Callable[[Limits], None] | None = None
    # Writable scratch folders inside, emptied after every invocation (bubblewrap: /tmp, /dev/shm).
    scratch_dirs: tuple[str, ...] = ()
    # With its own PID namespace the launched process is the namespace's parent, PID 1 its init
    # and PID 2 the runtime; without, the launched process is the runtime.
    pid_namespace: bool = False
    # PIDs (inside the namespace) of platform helpers started before any user code (egress forwarder).
    helper_pids: tuple[int, ...] = ()
    # A file listing every process of the sandbox and nothing else (its cgroup's cgroup.procs), if any.
    members: str | None = None
    # Deno: the binary and a private writable folder (DENO_DIR, the import map) as the sandbox sees them.
    deno: str = ""
    deno_home: str = ""
    # Deno: the version's prepared compile cache (functions/sandbox/deno.py) as the sandbox sees it,
    # if this machine has it; else the host folder to keep the one this sandbox's launcher makes.
    deno_prepared: str = ""
    deno_prepare_into: Path | None = None
    # Deno with a type check: the machine's check seed (see SandboxSpec.seed) inside, if it has one.
    deno_check_seed: str = ""
    # Python's runtime is one thread when idle; V8 and Deno's runtime keep a few threads by design,
    # so for them only processes count (Deno cannot start any: no --allow-run).
    single_threaded: bool = True


class SandboxFailure(Exception):
    """The sandbox itself failed (not the user's code): it is discarded."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_error(self) -> dict[str, Any]:
        return {"type": "SandboxError", "code": self.code, "message": self.message, "traceback": ""}


class LoadFailed(Exception):
    """The function's module did not import; `error` has the user's traceback."""

    def __init__(self, error: dict[str, Any], logs: str) -> None:
        super().__init__(error.get("message") or "the module failed to import")
        self.error = error
        self.logs = logs


@dataclass
class Outcome:
    ok: bool
    value: Any = None
    error: dict[str, Any] | None = None
    logs: str = ""
    duration_ms: int = 0


CallHandler = Callable[[str, dict[str, Any]], dict[str, Any]]


class _OutputCollector(threading.Thread):
    """Drains the sandbox's stderr: keeps up to `keep` bytes per invocation, splits invocations at
    the launcher's end marker, and kills the sandbox if it writes more than `kill_after` bytes."""

    def __init__(
        self,
        fd: int,
        marker: bytes,
        keep: int,
        kill_after: int,
        on_flood: Callable[[], None],
        expected: Callable[[], int],
        on_idle_output: Callable[[], None],
    ):
        super().__init__(daemon=True, name="sandbox-output")
        self.fd, self.marker, self.keep, self.kill_after = fd, marker, keep, kill_after
        self.on_flood = on_flood
        self.expected = expected  # segments started so far: output beyond them is written while idle
        self.on_idle_output = on_idle_output
        self.idle_output = False
        self.condition = threading.Condition()
        self.segments_done = 0
        self.flooded = False
        self._current = bytearray()
        self._dropped = 0
        self._since_marker = 0
        self._finished: list[tuple[bytes, int]] = []
        self._pending = b""

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            self._feed(chunk)
        with self.condition:
            self._close_segment()
            self.condition.notify_all()

    def _feed(self, chunk: bytes) -> None:
        data = self._pending + chunk
        with self.condition:
            while True:
                if self.segments_done >= self.expected():
                    # Written after the invocation ended, before another began: never anyone's logs.
                    self._pending = b""
                    if data and not self.idle_output:
                        self.idle_output = True
                        self.on_idle_output()
                    return
                index = data.find(self.marker)
                if index < 0:
                    break
                self._append(data[:index])
                self._close_segment()
                data = data[index + len(self.marker) :]
                self.condition.notify_all()
            keep_back = len(self.marker) - 1
            self._append(data[:-keep_back] if len(data) > keep_back else b"")
            self._pending = data[-keep_back:] if len(data) > keep_back else data
        if self._since_marker > self.kill_after and not self.flooded:
            self.flooded = True
            self.on_flood()

    def _append(self, data: bytes) -> None:
        self._since_marker += len(data)
        room = self.keep - len(self._current)
        if room > 0:
            self._current += data[:room]
        self._dropped += max(0, len(data) - max(room, 0))

    def _close_segment(self) -> None:
        self._finished.append((bytes(self._current), self._dropped))
        self._current, self._dropped, self._since_marker = bytearray(), 0, 0
        self.segments_done += 1

    def wait_segment(self, count: int, timeout: float) -> None:
        with self.condition:
            self.condition.wait_for(lambda: self.segments_done >= count, timeout=timeout)

    def take(self, *, unfinished: bool = True) -> str:
        """Logs of every finished segment plus (unless told not to) whatever the current one has."""
        with self.condition:
            parts = list(self._finished)
            self._finished = []
            if unfinished:
                parts.append((bytes(self._current), self._dropped))
                self._current, self._dropped = bytearray(), 0
        text = ""
        for data, dropped in parts:
            text += data.decode("utf-8", "replace")
            if dropped:
                text += f"\n[… {dropped} more bytes of output were dropped]\n"
        return text


class SandboxProcess:
    """A started sandbox with the function's module imported, ready for invocations."""

    def __init__(self, spec: SandboxSpec, isolation: Any) -> None:
        self.spec = spec
        self.isolation = isolation
        self.uses = 0
        self.started_at = time.monotonic()
        self.last_used = self.started_at
        self.triggers: list[dict[str, Any]] = []
        self.broken = False
        self._process: subprocess.Popen[bytes] | None = None
        self._cleanup: Callable[[], None] | None = None
        self._buffer = b""
        self._segments = 0
        self._killed_for: str | None = None
        self._launch: Launch | None = None
        self._cpu_budget: tuple[float, float] | None = None  # (CPU seconds at start, allowed) while invoking
        self._cpu_checked = 0.0
        self._idle_cpu: float | None = None  # CPU seconds when the last invocation ended
        self._loaded = False
        self.on_kill: list[Callable[[], None]] = []  # more cleanups, after the process is gone

    # --- life cycle ---------------------------------------------------------------------------------
    def start(self) -> list[dict[str, Any]]:
        """Launch the process and import the module. Raises LoadFailed or SandboxFailure."""
        self.spawn()
        return self.load()

    def spawn(self) -> None:
        """Launch the process: it imports the runtime, then waits for its `init` frame (which
        names the module, environment and limits), so no user code runs before `load()`.
        Raises SandboxFailure."""
        self._hold_code_dir(self.spec)
        try:
            self._hold_check_seed(self.spec)
            launch = self.isolation.launch(self.spec)
        except FileNotFoundError as missing:  # Deno not installed (functions/sandbox/deno.py)
            self._run_cleanup()
            raise SandboxFailure("start_failed", f"the sandbox could not start: {missing}") from None
        except BaseException:
            self._run_cleanup()
            raise
        self._launch = launch
        self._cleanup = launch.cleanup
        self._marker_token = secrets.token_hex(8)
        try:
            self._process = subprocess.Popen(
                launch.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=launch.env,
                cwd=launch.cwd,
                user=launch.user,
                group=launch.group,
                extra_groups=[] if launch.user is not None else None,
                pass_fds=launch.pass_fds,
                start_new_session=launch.own_process_group,
                bufsize=0,
            )
        except OSError as exc:
            self._run_cleanup()
            raise SandboxFailure("start_failed", f"the sandbox could not start: {exc}") from None
        finally:
            for fd in launch.close_after_start:
                os.close(fd)
        assert self._process.stderr is not None
        self._segments = 1  # start-up and import: logs of the load
        self._output = _OutputCollector(
            self._process.stderr.fileno(),
            ("\x00\x1e" + self._marker_token + "\n").encode(),
            keep=self.spec.limits.log_bytes,
            kill_after=self.spec.limits.output_kill_bytes,
            on_flood=lambda: self._kill("output_limit"),
            expected=lambda: self._segments,
            on_idle_output=lambda: self._kill("it wrote output between invocations"),
        )
        self._output.start()

    def _hold_code_dir(self, spec: SandboxSpec) -> None:
        """Lease the bundle folder for this sandbox's life (functions/sandbox/paths.py) and write
        it again if a cleaner removed it meanwhile."""
        lease = paths.lease(spec.code_dir)
        if lease is None:
            return
        self.on_kill.append(lambda: os.close(lease))
        if not spec.code_dir.exists():
            if spec.files is None:
                self._run_cleanup()
                raise SandboxFailure("start_failed", "the function's files are missing")
            paths.code_dir(spec.code_dir.name, spec.files)

    def _hold_check_seed(self, spec: SandboxSpec) -> None:
        """A deploy's type check starts from the machine's check seed (functions/sandbox/deno.py),
        bound into its sandbox and copied there: lease the seed for this sandbox's life, so that a
        later upgrade's cleaner (remove_stale_check_seeds) leaves it alone meanwhile."""
        if spec.runtime != DENO or not spec.check or spec.seed:
            return
        lease = paths.lease(check_seed_folder(paths.runtime_parent()))
        if lease is not None:
            self.on_kill.append(lambda: os.close(lease))

    def assign(self, spec: SandboxSpec) -> None:
        """Give a spawned, not yet loaded sandbox the version it will run (a pre-started one,
        functions/sandbox/zygote.py): its outside limits are rewritten for that version before any
        of its code exists in the sandbox. Raises SandboxFailure."""
        if self._launch is None or self._loaded:
            raise SandboxFailure("protocol_error", "only a spawned, unloaded sandbox can be assigned")
        if self._launch.relimit is not None:
            try:
                self._launch.relimit(spec.limits)
            except OSError as exc:
                self.kill()
                raise SandboxFailure("start_failed", f"the sandbox limits could not be set: {exc}") from None
        self.spec = spec
        self._output.keep, self._output.kill_after = spec.limits.log_bytes, spec.limits.output_kill_bytes

    def load(self) -> list[dict[str, Any]]:
        """Send `init` and wait until the module is imported. Raises LoadFailed or SandboxFailure."""
        assert self._launch is not None
        self._loaded = True
        limits = self.spec.limits
        load_timeout = limits.load_timeout
        if self.spec.runtime == DENO:
            self._send(self._deno_launch_frame())
            if self.spec.check:
                load_timeout = max(load_timeout, DENO_CHECK_SECONDS)
        self._send(
            {
                "op": "init",
                "marker": self._marker_token,
                "entry": self.spec.entry,
                "code_dir": self._launch.code_dir,
                "site_dirs": list(self._launch.site_dirs),
                "env": self.spec.env,
                "limits": limits.rlimits(),
                "scratch_dirs": list(self._launch.scratch_dirs),
                "runtime_dir": self._launch.runtime_dir,
            }
        )
        deadline = time.monotonic() + load_timeout
        message = self._receive(deadline)
        if self._launch.deno_prepare_into is not None and message.get("op") == "prepared":
            # Asked for, the first frame is the launcher's, written before any function code ran
            # (a frame of that name at any other time is never read as one).
            store_prepared(self._launch.deno_prepare_into, message.get("files"))
            message = self._receive(deadline)
        self._output.wait_segment(self._segments, timeout=1.0)
        logs = self._output.take()
        if message.get("op") == "load_error":
            self.kill()
            raise LoadFailed(message.get("error") or {}, logs)
        if message.get("op") == "check_failed":
            self.kill()
            raise LoadFailed(deno_check_error(str(message.get("output") or ""), self._launch.code_dir), logs)
        if message.get("op") != "ready":
            self.kill()
            raise SandboxFailure("protocol_error", "the sandbox answered out of turn")
        self.triggers = list(message.get("triggers") or [])
        return self.triggers

    def _deno_launch_frame(self) -> dict[str, Any]:
        """What the Deno launcher needs before Deno starts (no secrets: those come with `init`)."""
        assert self._launch is not None
        return {
            "op": "launch",
            "deno": self._launch.deno,
            "home": self._launch.deno_home,
            "code_dir": self._launch.code_dir,
            "runtime_dir": self._launch.runtime_dir,
            "entry": self.spec.entry,
            "memory_mb": self.spec.limits.memory_mb,
            "check": self.spec.check,
            "limits": self.spec.limits.rlimits(DENO),
            "dependencies": self.spec.dependencies,
            "prepare": self._launch.deno_prepare_into is not None and not self.spec.build_dir,
            "prepared": self._launch.deno_prepared,
            "seed": self.spec.seed,
            "check_seed": self._launch.deno_check_seed,
            "build": {"out": BUILD_DIR, "registries": [list(pair) for pair in self.spec.registries]}
            if self.spec.build_dir
            else None,
        }

    def build(self) -> dict[str, Any]:
        """The deploy's dependency step (a spec with `build_dir`) or the making of the check seed (a
        spec with `seed`): launch, let the launcher resolve and check, and return its last frame
        (`built`, `check_seed`, `build_failed` or `check_failed`, with Deno's output). The process
        ends on its own; it is killed in any case. Raises SandboxFailure."""
        self.spawn()
        assert self._launch is not None
        self._loaded = True
        try:
            self._send(self._deno_launch_frame())
            return self._receive(time.monotonic() + DENO_CHECK_SECONDS)
        finally:
            self.kill()

    @property
    def alive(self) -> bool:
        return not self.broken and self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        self.broken = True
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                if self.isolation.OWN_PROCESS_GROUP:
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    process.kill()
            except (ProcessLookupError, PermissionError):
                pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            logger.error("sandbox process %s did not exit after SIGKILL", process.pid)
        for stream in (process.stdin, process.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self._run_cleanup()

    def _kill(self, reason: str) -> None:
        self._killed_for = reason
        self.kill()

    def _run_cleanup(self) -> None:
        cleanups = [self._cleanup, *self.on_kill]
        self._cleanup, self.on_kill = None, []
        for cleanup in cleanups:
            if cleanup is None:
                continue
            try:
                cleanup()
            except Exception:
                logger.warning("sandbox cleanup failed", exc_info=True)

    # --- invocations --------------------------------------------------------------------------------
    def invoke(
        self,
        *,
        handler: str,
        event: dict[str, Any],
        ctx: dict[str, Any],
        timeout: float,
        on_call: CallHandler,
    ) -> Outcome:
        """Run one handler. User errors come back as a failed Outcome; a sandbox that breaks
        (timeout, crash, flood, protocol) is killed and reported the same way, marked broken."""
        started = time.monotonic()
        deadline = started + timeout
        self.uses += 1
        self.last_used = started
        self._segments += 1
        if self.spec.limits.cpu_seconds > 0:
            # Nothing ran since the last invocation ended (see stirred()): its figure still holds.
            used = self._idle_cpu if self._idle_cpu is not None else self._tree().cpu_seconds
            self._cpu_budget = (used, self.spec.limits.cpu_seconds + 1.0)
        # Deno's runtime echoes this in its frames: a frame written by the code on its own (Node's
        # process.stdout reaches the channel), or one left over from an earlier invocation, can never
        # pass for this invocation's (the worker picks it only now).
        nonce = secrets.token_hex(16) if self.spec.runtime == DENO else None
        try:
            self._send(
                {
                    "op": "invoke",
                    "handler": handler,
                    "event": event,
                    "ctx": {**ctx, "deadline": time.time() + timeout},
                    "cpu_seconds": self.spec.limits.cpu_seconds,
                    **({"nonce": nonce} if nonce else {}),
                }
            )
            while True:
                message = self._receive(deadline)
                if nonce is not None and message.get("nonce") != nonce:
                    self._kill("protocol_error")
                    raise SandboxFailure("protocol_error", "the sandbox answered out of turn")
                op = message.get("op")
                if op == "call":
                    reply = on_call(str(message.get("method")), message.get("args") or {})
                    self._send({"op": "reply", "id": message.get("id"), **reply})
                    continue
                if op == "result":
                    break
                raise SandboxFailure("protocol_error", "the sandbox answered out of turn")
        except SandboxFailure as failure:
            self.kill()
            return Outcome(
                ok=False,
                error=failure.as_error(),
                logs=self._output.take(),
                duration_ms=_ms_since(started),
            )
        finally:
            self._cpu_budget = None
        self._output.wait_segment(self._segments, timeout=0.5)
        logs = self._output.take(unfinished=False)
        self._recycle_unless_quiet(message.get("recycle"))
        if self.broken:
            logs += f"\n[the sandbox was recycled: {self._killed_for}]\n"
        self.last_used = time.monotonic()
        if message.get("ok"):
            return Outcome(ok=True, value=message.get("value"), logs=logs, duration_ms=_ms_since(started))
        return Outcome(ok=False, error=message.get("error") or {}, logs=logs, duration_ms=_ms_since(started))

    def _recycle_unless_quiet(self, asked: Any) -> None:
        """Kill the sandbox, so that it is never reused, if anything of the invocation runs on."""
        reason = str(asked) if asked else None
        if reason is None:
            tree = self._tree()
            reason = tree.leftovers
            self._idle_cpu = tree.cpu_seconds
        if reason is None and self._output.idle_output:
            reason = "it wrote output between invocations"
        if reason is None and self._channel_busy():
            reason = "it wrote to the platform's channel out of turn"
        if reason is not None:
            self._kill(reason)

    def _channel_busy(self) -> bool:
        """Bytes on the sandbox's channel after its answer: a frame the code forged, or an answer
        that would be read as the next caller's. Such a sandbox is never reused."""
        if self._buffer:
            return True
        if self._process is None or self._process.stdout is None:
            return False
        try:
            ready, _, _ = select.select([self._process.stdout.fileno()], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(ready)

    def stirred(self) -> bool:
        """Whether anything ran in the sandbox since its last invocation ended (a timer or signal
        handler the code left behind, and whatever that started): such a sandbox is not reused."""
        if self._idle_cpu is None or not self.alive:
            return False
        tree = self._tree()
        return (
            tree.leftovers is not None or tree.cpu_seconds - self._idle_cpu > IDLE_CPU_TOLERANCE or self._channel_busy()
        )

    def _tree(self) -> _Tree:
        assert self._process is not None and self._launch is not None
        return _Tree(self._process.pid, self._launch)

    # --- framing --------------------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        assert self._process is not None and self._process.stdin is not None
        try:
            _protocol.write_frame(self._process.stdin.fileno(), message)
        except (OSError, ValueError):
            raise self._failure() from None

    def _receive(self, deadline: float) -> dict[str, Any]:
        header = self._read(_protocol.HEADER.size, deadline)
        (size,) = _protocol.HEADER.unpack(header)
        if size > _protocol.MAX_FRAME_BYTES:
            self._kill("protocol_error")
            raise SandboxFailure("protocol_error", "the sandbox sent a message above the size limit")
        body = self._read(size, deadline)
        try:
            import json

            message = json.loads(body)
        except ValueError:
            self._kill("protocol_error")
            raise SandboxFailure("protocol_error", "the sandbox sent a malformed message") from None
        if not isinstance(message, dict):
            raise SandboxFailure("protocol_error", "the sandbox sent a malformed message")
        return message

    def _read(self, size: int, deadline: float) -> bytes:
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        while len(self._buffer) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill("timeout")
                raise self._failure()
            if self._cpu_budget is not None:
                remaining = min(remaining, CPU_CHECK_SECONDS)
            ready, _, _ = select.select([fd], [], [], remaining)
            if self._cpu_budget is not None and self._over_cpu_budget():
                self._kill("cpu_limit")
                raise self._failure()
            if not ready:
                continue
            try:
                chunk = os.read(fd, max(65536, size - len(self._buffer)))
            except OSError:
                chunk = b""
            if not chunk:
                raise self._failure()
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _failure(self) -> SandboxFailure:
        """Why the channel broke, in words a function author understands."""
        reason = self._killed_for
        if reason is None and self._process is not None:
            try:
                self._process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self._kill("protocol_error")
        self.broken = True
        if reason == "timeout":
            return SandboxFailure("timeout", f"the function ran longer than its {self.spec.limits.timeout:g} s timeout")
        if reason == "output_limit":
            return SandboxFailure(
                "output_limit",
                f"the function wrote more than {self.spec.limits.output_kill_bytes} bytes of output",
            )
        if reason == "protocol_error":
            return SandboxFailure("protocol_error", "the sandbox broke the protocol and was stopped")
        if reason == "cpu_limit":
            return SandboxFailure("cpu_limit", "the function used more CPU time than allowed")
        code = self._process.returncode if self._process is not None else None
        if (
            code is not None
            and code > 128
            and self.spec.runtime == DENO
            and self._launch
            and self._launch.pid_namespace
        ):
            code = 128 - code  # bwrap's init passes its child's death by signal N on as exit status 128 + N
        if code is not None and code < 0:
            sig = -code
            if sig == signal.SIGXCPU:
                return SandboxFailure("cpu_limit", "the function used more CPU time than allowed")
            if sig == signal.SIGKILL:
                return SandboxFailure("crashed", "the sandbox was killed (SIGKILL; out of memory or a process limit)")
            if sig == signal.SIGTRAP and self.spec.runtime == DENO:  # V8's fatal "out of memory"
                return SandboxFailure(
                    "crashed",
                    f"the function ran out of memory (its limit is {self.spec.limits.memory_mb} MiB) "
                    "and V8 stopped the sandbox (SIGTRAP)",
                )
            return SandboxFailure("crashed", f"the sandbox died from signal {signal.Signals(sig).name}")
        return SandboxFailure("crashed", f"the sandbox exited unexpectedly (exit status {code})")

    def _over_cpu_budget(self) -> bool:
        assert self._cpu_budget is not None
        now = time.monotonic()
        if now - self._cpu_checked < CPU_CHECK_SECONDS:
            return False
        self._cpu_checked = now
        start, allowed = self._cpu_budget
        return self._tree().cpu_seconds - start > allowed


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


CPU_CHECK_SECONDS = 0.25  # how often a running invocation's CPU time is read from outside
IDLE_CPU_TOLERANCE = 0.02  # CPU seconds an idle sandbox may show (clock-tick accounting)
_TICKS = os.sysconf("SC_CLK_TCK")


class _Tree:
    """The sandbox's processes as seen from outside, in /proc: what runs, and the CPU time used.

    Expected: the runtime alone with its one thread and, with a PID namespace, bwrap's init (PID 1
    inside, child of the launched process), the runtime as its PID 2 and the platform's helpers as
    the runtime's children with their fixed PIDs; anything else is left over (see `_descendants`
    for how they are found)."""

    def __init__(self, root: int, launch: Launch) -> None:
        self.cpu_seconds = 0.0
        self.leftovers: str | None = None
        found = _descendants(root, launch.user, launch.members)
        for info in found.values():
            self.cpu_seconds += info.cpu_ticks / _TICKS
        expected: set[int] = {root}
        runtime = found.get(root)
        if launch.pid_namespace:  # root → init (PID 1 inside) → runtime (PID 2) → helpers
            init = _child(found, root, 1)
            runtime_pid = _child(found, init, 2)
            runtime = found.get(runtime_pid) if runtime_pid else None
            expected |= {init, runtime_pid} | {_child(found, runtime_pid, pid) for pid in launch.helper_pids}
        others = len(set(found) - expected)
        if runtime is None:
            self.leftovers = "the runtime process is gone"
        elif (runtime.threads > 1 and launch.single_threaded) or others:
            threads = runtime.threads - 1 if launch.single_threaded else 0
            self.leftovers = f"the invocation left {threads} thread(s) and {others} other process(es) running"


def _child(found: dict[int, _ProcessInfo], parent: int, ns_pid: int) -> int:
    """The host PID of `parent`'s child that has `ns_pid` inside the sandbox (0 when none)."""
    for pid, info in found.items():
        if parent and info.parent == parent and info.ns_pid == ns_pid:
            return pid
    return 0


@dataclass
class _ProcessInfo:
    parent: int
    threads: int
    cpu_ticks: int  # user + system time of the process and of its children it has waited for
    ns_pid: int = 0


def _descendants(root: int, uid: int | None, members: str | None = None) -> dict[int, _ProcessInfo]:
    """`root` and every process below it, with what /proc says about each. Found the cheapest way
    this machine offers: the sandbox's own cgroup (`members`, its cgroup.procs: every process of
    the sandbox and nothing else), else the kernel's per-thread `children` lists, else a scan of
    /proc (whose cost grows with the number of processes on the machine)."""
    if members is not None:
        try:
            with open(members, "rb") as handle:
                pids = {int(line) for line in handle.read().split()}
        except (OSError, ValueError):
            pids = None
        if pids is not None:
            return _read_tree(root, {pid: info for pid in pids | {root} if (info := _read_process(pid))})
    if _CHILDREN_LISTS:
        return _walk_children(root)
    known: dict[int, _ProcessInfo] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            if pid != root and uid is not None and entry.stat().st_uid not in (uid, 0):
                continue
        except OSError:
            continue  # gone meanwhile
        info = _read_process(pid)
        if info is not None:
            known[pid] = info
    return _read_tree(root, known)


def _read_process(pid: int) -> _ProcessInfo | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None  # gone meanwhile
    # fields[0] is the state (field 3 of proc(5)): ppid is field 4, utime..cstime 14..17, num_threads 20
    return _ProcessInfo(
        parent=int(fields[1]), threads=int(fields[17]), cpu_ticks=sum(int(value) for value in fields[11:15])
    )


def _read_tree(root: int, known: dict[int, _ProcessInfo]) -> dict[int, _ProcessInfo]:
    """The processes of `known` that descend from `root` (following parent links)."""
    tree: dict[int, _ProcessInfo] = {}
    if root in known:
        tree[root] = known[root]
    grew = True
    while grew:
        grew = False
        for pid, info in known.items():
            if pid not in tree and info.parent in tree:
                tree[pid] = info
                grew = True
    for pid, info in tree.items():
        info.ns_pid = _ns_pid(pid)
    return tree


def _walk_children(root: int) -> dict[int, _ProcessInfo]:
    tree: dict[int, _ProcessInfo] = {}
    waiting = [root]
    while waiting:
        pid = waiting.pop()
        info = _read_process(pid)
        if info is None or pid in tree:
            continue
        tree[pid] = info
        info.ns_pid = _ns_pid(pid)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children", "rb") as handle:
                    waiting += [int(child) for child in handle.read().split()]
    return tree


_CHILDREN_LISTS = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")  # CONFIG_PROC_CHILDREN


def _ns_pid(pid: int) -> int:
    """The process's PID in its own (innermost) PID namespace."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return 0
