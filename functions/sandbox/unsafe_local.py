"""The weak fallback: a plain subprocess with rlimits. NOT isolated — for a laptop without
bubblewrap only. Functions run as the worker's user, see its files and network. Used only when
chosen explicitly with `BAAS_SANDBOX=unsafe-local` (or `baas dev --unsafe-local-functions`), never
as a fallback; refused when `BAAS_MODE=production` and on a server listening on a non-loopback
address (`functions.sandbox.refuse_unsafe_local_on`), and logged loudly at worker start.
"""

from __future__ import annotations

import shutil
import sys
import tempfile

from django.conf import settings

from functions.sandbox import deno
from functions.sandbox.paths import runtime_parent, site_links, site_packages
from functions.sandbox.process import BOOT, BOOT_DENO, DENO, Launch, SandboxSpec

NAME = "unsafe-local"
STRONG = False
OWN_PROCESS_GROUP = True  # kill the whole process group: there is no PID namespace


def describe() -> str:
    return "unsafe-local (plain subprocess with rlimits only: no namespaces, no filesystem isolation)"


def launch(spec: SandboxSpec) -> Launch:
    python = settings.FUNCTIONS_PYTHON or sys.executable
    runtime = str(runtime_parent())
    if spec.runtime == DENO:
        home = tempfile.mkdtemp(prefix="baas-deno-")
        return Launch(
            argv=[python, "-I", "-S", "-B", "-c", BOOT_DENO.format(runtime=runtime)],
            code_dir=str(spec.code_dir),
            runtime_dir=runtime,
            env={"PATH": "/usr/bin:/bin"},
            cwd=str(spec.code_dir),
            own_process_group=True,
            cleanup=lambda: shutil.rmtree(home, ignore_errors=True),
            deno=str(deno.binary()),
            deno_home=home,
            single_threaded=False,
        )
    return Launch(
        argv=[python, "-I", "-S", "-B", "-c", BOOT.format(runtime=runtime)],
        code_dir=str(spec.code_dir),
        runtime_dir=runtime,
        site_dirs=(str(site_links()),) if site_packages() else (),
        env={"PATH": "/usr/bin:/bin"},
        cwd=str(spec.code_dir),
        own_process_group=True,
    )
