"""Isolation with bubblewrap: the strong kind, required in production.

What the sandboxed process gets (see docs/functions.md, "The sandbox"):
- bwrap is started as the unprivileged sandbox uid (65534 by default) with new user, PID, IPC,
  UTS, network, mount and cgroup namespaces (`--unshare-all`, always: `egress`
  goes out only through the worker's filtering proxy, functions/sandbox/egress.py),
  `--disable-userns`, `--die-with-parent`, `--new-session`, `--clearenv` and an empty environment;
- a read-only root: `/usr` (with the `/bin`, `/lib*`, `/sbin` links), the runtime package at
  `/opt/baas`, the function's files at `/function`, a minimal `/dev`; no `/proc`, no `/etc` (TLS
  trust files only with `egress`), nothing of the project or data folders;
- private tmpfs `/tmp` and `/dev/shm`, each capped in size, emptied after every invocation (/dev
  itself read-only);
- a seccomp filter refusing ptrace, mount, namespace, keyring, bpf, perf and module calls and
  signals to the sandbox's init;
- rlimits (CPU, address space, processes, file size, open files, no core) applied by the
  launcher before any user code runs, and cgroup v1 `pids`/`memory` limits where writable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from functions.sandbox import deno, egress, seccomp
from functions.sandbox.paths import reachable_by_sandboxes, runtime_parent, site_packages
from functions.sandbox.process import BOOT, BOOT_DENO, BUILD_DIR, DENO, Launch, Limits, SandboxSpec

logger = logging.getLogger("baas.functions.sandbox")

NAME = "bubblewrap"
STRONG = True
OWN_PROCESS_GROUP = False  # bwrap's --die-with-parent tears the whole PID namespace down
SITE_DIR = "/opt/site"
EGRESS_FORWARDER_PID = 3  # forked by the runtime (PID 2) before any user code: baas_runtime/_egress.py
SCRATCH_DIRS = ("/tmp", "/dev/shm")  # the only writable places, emptied after every invocation
DENO_HOME = "/tmp/.deno"  # DENO_DIR and the import map: on the sandbox's own tmpfs, not writable by the code

# TLS trust for egress sandboxes (names are resolved by the proxy, outside).
_EGRESS_FILES = ("/etc/ssl", "/etc/ca-certificates")


def describe() -> str:
    cgroups = "cgroup v1 pids+memory" if _cgroup_roots() else "no cgroup limits (not writable)"
    filt = "seccomp filter" if seccomp.available() else "no seccomp filter (unknown architecture)"
    return (
        f"bubblewrap ({settings.FUNCTIONS_BWRAP}) as uid {settings.FUNCTIONS_SANDBOX_UID}, "
        f"user/pid/ipc/uts/net namespaces (egress through the worker's filtering proxy), read-only system, "
        f"{filt}, rlimits, {cgroups}; "
        f"python {settings.FUNCTIONS_PYTHON}"
    )


def isolation_flags(uid: int) -> list[str]:
    """The namespaces and identity every sandbox gets; the start-up probe (probe.py) uses the same
    flags, so that a probe that passes proves what invocations will actually run with."""
    return [
        "--unshare-all",
        "--unshare-user",
        "--uid", str(uid), "--gid", str(uid),
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ]  # fmt: skip


def root_entries() -> list[str]:
    """`/bin`, `/lib`, … as the host has them: links into /usr, or read-only binds."""
    args: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    return args


def launch(spec: SandboxSpec) -> Launch:
    limits = spec.limits
    uid = settings.FUNCTIONS_SANDBOX_UID
    argv = [
        settings.FUNCTIONS_BWRAP,
        *isolation_flags(uid),
        "--hostname", "sandbox",
        "--ro-bind", "/usr", "/usr",
        *root_entries(),
        "--dev", "/dev",
        # bwrap's /dev is an uncapped tmpfs (half the host's memory) and /dev/shm a folder in it:
        # shared memory gets a capped tmpfs of its own, and /dev is made read-only below.
        "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/dev/shm",
        "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
        "--ro-bind", str(runtime_parent()), "/opt/baas",
        "--ro-bind", str(spec.code_dir), "/function",
    ]  # fmt: skip
    # Packages offered to functions (Pillow by default): each folder alone, read-only, at
    # /opt/site/<name> — not the whole dist-packages it comes from.
    site_dirs: tuple[str, ...] = ()
    deno_prepared, prepare_into, check_seed = "", None, ""
    if spec.runtime == DENO:
        # Deno's Node compatibility (node:process…) panics without /proc/self/exe. A procfs of the
        # sandbox's own PID namespace shows its own processes only, and Deno's permissions keep the
        # code from reading it (--allow-read names /function and the runtime only).
        deno_binary = reachable_by_sandboxes(deno.binary())
        argv += ["--ro-bind", str(deno_binary), deno.SANDBOX_BINARY, "--proc", "/proc"]
        if spec.check and not spec.seed:
            seed = deno.check_seed_folder(runtime_parent())
            if seed.is_dir():
                argv += ["--ro-bind", str(seed), deno.SANDBOX_CHECK_SEED]
                check_seed = deno.SANDBOX_CHECK_SEED
        if spec.build_dir is None and not spec.seed:  # neither runs a function: nothing to prepare
            prepared = deno.prepared_folder(spec.code_dir, runtime_parent())
            if (prepared / "gen").is_dir():
                argv += ["--ro-bind", str(prepared), deno.SANDBOX_PREPARED]
                deno_prepared = deno.SANDBOX_PREPARED
            else:
                prepare_into = prepared
    else:
        for package in site_packages():
            argv += ["--ro-bind", str(package), f"{SITE_DIR}/{package.name}"]
            site_dirs = (SITE_DIR,)
    # Always a network namespace of its own (--unshare-all): egress goes out only through the
    # worker's filtering proxy, whose Unix socket is bound in (functions/sandbox/egress.py).
    boot_options: list[str] = []
    helpers: tuple[int, ...] = ()
    proxy = None
    if spec.build_dir is not None:  # the dependency step's output (the launcher writes one zip)
        argv += ["--bind", str(spec.build_dir), BUILD_DIR]
    if spec.registries:  # the dependency step: out only to the configured package registries
        proxy = egress.open_proxy(hosts=egress.registry_hosts(url for _kind, url in spec.registries))
        argv += ["--ro-bind", str(proxy.path), egress.SANDBOX_SOCKET]
        for path in _EGRESS_FILES:
            argv += ["--ro-bind-try", path, path]
        boot_options = ["--egress", egress.SANDBOX_SOCKET]
        helpers = (EGRESS_FORWARDER_PID,)
    elif spec.network == "egress":
        proxy = egress.open_proxy()
        argv += ["--ro-bind", str(proxy.path), egress.SANDBOX_SOCKET]
        for path in _EGRESS_FILES:
            argv += ["--ro-bind-try", path, path]
        boot_options = ["--egress", egress.SANDBOX_SOCKET]
        helpers = (EGRESS_FORWARDER_PID,)
    pass_fds: list[int] = []
    if seccomp.available():
        fd = os.memfd_create("baas-seccomp", 0)
        os.write(fd, seccomp.program())
        os.lseek(fd, 0, os.SEEK_SET)
        argv += ["--seccomp", str(fd)]
        pass_fds.append(fd)
    argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/function", "--"]
    boot = BOOT_DENO if spec.runtime == DENO else BOOT
    python = [settings.FUNCTIONS_PYTHON, "-I", "-S", "-B", "-c", boot.format(runtime="/opt/baas"), *boot_options]
    cgroup = _Cgroup.create(limits.processes, limits.memory_mb, limits.tmp_bytes)
    prefix = cgroup.wrapper() if cgroup else []
    cleanups = [step for step in (cgroup.remove if cgroup else None, proxy.close if proxy else None) if step]
    return Launch(
        argv=[*prefix, *argv, *python],
        code_dir="/function",
        runtime_dir="/opt/baas",
        site_dirs=site_dirs,
        env={"PATH": "/usr/bin:/bin"},
        user=uid,
        group=uid,
        pass_fds=tuple(pass_fds),
        close_after_start=tuple(pass_fds),
        cleanup=(cleanups[0] if len(cleanups) == 1 else _chain(cleanups)) if cleanups else None,
        relimit=cgroup.relimit if cgroup else None,
        scratch_dirs=SCRATCH_DIRS,
        pid_namespace=True,
        helper_pids=helpers,
        members=cgroup.members() if cgroup else None,
        deno=deno.SANDBOX_BINARY if spec.runtime == DENO else "",
        deno_home=DENO_HOME,
        deno_prepared=deno_prepared,
        deno_prepare_into=prepare_into,
        deno_check_seed=check_seed,
        single_threaded=spec.runtime != DENO,
    )


def _cgroup_roots() -> dict[str, Path]:
    if not settings.FUNCTIONS_SANDBOX_CGROUPS:
        return {}
    roots = {}
    for controller in ("pids", "memory"):
        path = Path("/sys/fs/cgroup") / controller
        if (path / "cgroup.procs").exists() and os.access(path, os.W_OK):
            roots[controller] = path / "baas-functions"
    return roots


class _Cgroup:
    """cgroup v1 `pids` and `memory` groups for one sandbox; joined by a tiny shell wrapper that
    writes its own pid into them and then execs bwrap, so no process escapes the limits."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths

    @classmethod
    def create(cls, processes: int, memory_mb: int, tmp_bytes: int) -> _Cgroup | None:
        roots = _cgroup_roots()
        if not roots:
            return None
        name = uuid.uuid4().hex[:16]
        group = cls({})
        try:
            for controller, root in roots.items():
                root.mkdir(exist_ok=True)
                path = root / name
                path.mkdir()
                group.paths[controller] = path
                os.chown(path / "cgroup.procs", settings.FUNCTIONS_SANDBOX_UID, settings.FUNCTIONS_SANDBOX_UID)
            group.set_limits(processes, memory_mb, tmp_bytes)
        except OSError:
            group.remove()
            return None
        return group

    def set_limits(self, processes: int, memory_mb: int, tmp_bytes: int) -> None:
        """Write the limits (also later: a pre-started sandbox takes the limits of the version it
        is given before any of that version's code runs). Raises OSError."""
        for controller, path in self.paths.items():
            if controller == "pids":
                (path / "pids.max").write_text(str(processes + 4))  # + bwrap, its init, sh
            else:
                # The tmpfs's pages count too; leave the address-space rlimit to bite first.
                (path / "memory.limit_in_bytes").write_text(str(memory_mb * 1024 * 1024 * 2 + tmp_bytes))

    def relimit(self, limits: Limits) -> None:
        self.set_limits(limits.processes, limits.memory_mb, limits.tmp_bytes)

    def members(self) -> str:
        """The file listing the group's processes: the sandbox's and only those."""
        return str(next(iter(self.paths.values())) / "cgroup.procs")

    def wrapper(self) -> list[str]:
        targets = [str(path / "cgroup.procs") for path in self.paths.values()]
        script = 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 111; shift; done; shift; exec "$@"'
        return [shutil.which("sh") or "/bin/sh", "-c", script, "sh", *targets, "--"]

    def remove(self) -> None:
        for path in self.paths.values():
            with contextlib.suppress(OSError):
                path.rmdir()


def _chain(steps: list[Callable[[], None]]) -> Callable[[], None]:
    def run_all() -> None:
        for step in steps:
            try:
                step()
            except Exception:
                logger.warning("sandbox cleanup step failed", exc_info=True)

    return run_all
