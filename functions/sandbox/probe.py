"""Does bubblewrap actually work here? Start one tiny sandbox and see it print.

A `bwrap` binary on the disk proves nothing: Ubuntu 24.04's AppArmor restriction on unprivileged
user namespaces, a kernel with user namespaces off, a seccomp profile of a container or a broken
install all leave the binary in place and make every sandbox start fail. So the probe starts a
sandbox with the flags that matter to the real one (`functions/sandbox/bubblewrap.py`: as the
sandbox uid, new user and other namespaces, `--disable-userns`, read-only `/usr`) and runs the
sandbox's interpreter in it; only a clean exit with the expected output counts as working.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from django.conf import settings

PROBE_TIMEOUT_SECONDS = 15.0
_SAID = "baas-sandbox-probe-ok"


@dataclass(frozen=True)
class ProbeResult:
    works: bool
    binary: str | None  # the resolved bwrap path, None when not found
    problem: str = ""  # why it does not work (for logs and the 503 message)


def resolve_bwrap() -> str | None:
    """FUNCTIONS_BWRAP as a path, or a bare name looked up on PATH."""
    configured = settings.FUNCTIONS_BWRAP
    if "/" in configured:
        return configured if os.path.exists(configured) else None
    return shutil.which(configured)


def probe_bubblewrap() -> ProbeResult:
    binary = resolve_bwrap()
    if binary is None:
        return ProbeResult(False, None, f"bubblewrap was not found ({settings.FUNCTIONS_BWRAP!r} is not installed)")
    from functions.sandbox.bubblewrap import isolation_flags, root_entries

    uid = settings.FUNCTIONS_SANDBOX_UID
    argv = [
        binary,
        *isolation_flags(uid),
        "--ro-bind", "/usr", "/usr",
        *root_entries(),
        "--dev", "/dev",
        "--tmpfs", "/tmp",
        "--remount-ro", "/",
        "--",
        settings.FUNCTIONS_PYTHON, "-I", "-S", "-c", f"print({_SAID!r})",
    ]  # fmt: skip
    as_user = {"user": uid, "group": uid, "extra_groups": []} if os.geteuid() == 0 else {}
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            env={"PATH": "/usr/bin:/bin"},
            cwd="/",
            check=False,
            **as_user,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return ProbeResult(False, binary, f"bubblewrap ({binary}) could not be started: {error}")
    if done.returncode != 0 or done.stdout.decode(errors="replace").strip() != _SAID:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        reason = said[-1] if said else f"exit status {done.returncode}"
        return ProbeResult(False, binary, f"bubblewrap ({binary}) is installed but cannot start a sandbox: {reason}")
    return ProbeResult(True, binary)
