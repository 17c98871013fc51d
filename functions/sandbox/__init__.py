"""Function sandboxes: one module per isolation kind, each exposing the same `launch()` interface.

- `bubblewrap`: namespaces, an unprivileged uid, seccomp, rlimits and (where writable) cgroups.
- `unsafe_local`: a plain subprocess with rlimits, for a laptop without bubblewrap. Only when chosen
  explicitly (`BAAS_SANDBOX=unsafe-local`), never in production, never on a non-loopback server.

Functions fail closed: `BAAS_SANDBOX=auto` (the dev default) and `bubblewrap` use bubblewrap only
when a probe (`probe.py`) has actually started a sandbox; otherwise the state is "unavailable",
`isolation()` raises `SandboxUnavailable` (503 `sandbox_unavailable`) and no function code runs.
There is no silent fallback to the unsandboxed runner.

`process.SandboxProcess` drives either kind over the same protocol; `pool.SandboxPool` keeps
warm ones per worker process.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from types import ModuleType

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from functions.errors import SandboxUnavailable

logger = logging.getLogger("baas.functions.sandbox")

BUBBLEWRAP, UNSAFE_LOCAL, UNAVAILABLE = "bubblewrap", "unsafe-local", "unavailable"
# A failed probe is repeated after this long, so installing bubblewrap (or lifting an AppArmor
# restriction) takes effect without a restart; a working one holds until `reprobe()`.
RETRY_FAILED_PROBE_SECONDS = 30.0

_lock = threading.Lock()
_state: tuple[str, str, float] | None = None  # (state, problem, when probed)


def state() -> str:
    """Which sandbox runs functions in this process: "bubblewrap", "unsafe-local" or "unavailable"."""
    return _current()[0]


def problem() -> str:
    """Why bubblewrap does not work here ("" when it does, or under unsafe-local)."""
    return _current()[1]


def reprobe() -> str:
    """Forget the last probe and probe again now (a worker does this when it starts)."""
    global _state
    with _lock:
        _state = None
    return state()


def _current() -> tuple[str, str, float]:
    global _state
    with _lock:
        known = _state
        if known is not None and not (
            known[0] == UNAVAILABLE and time.monotonic() - known[2] > RETRY_FAILED_PROBE_SECONDS
        ):
            return known
        _state = _decide()
        return _state


def _decide() -> tuple[str, str, float]:
    if settings.BAAS_SANDBOX == UNSAFE_LOCAL:
        return UNSAFE_LOCAL, "", time.monotonic()
    from functions.sandbox.probe import probe_bubblewrap

    result = probe_bubblewrap()
    if result.works:
        return BUBBLEWRAP, "", time.monotonic()
    return UNAVAILABLE, result.problem, time.monotonic()


def isolation() -> ModuleType:
    """The isolation module to run function code in. Raises SandboxUnavailable (503) when there
    is no working sandbox and unsafe-local was not chosen explicitly: then no code may run."""
    from functions.sandbox import bubblewrap, unsafe_local

    current, why, _ = _current()
    if current == BUBBLEWRAP:
        return bubblewrap
    if current == UNSAFE_LOCAL:
        if settings.PRODUCTION:  # settings refuse this too; never rely on one check only
            raise ImproperlyConfigured("BAAS_SANDBOX=unsafe-local is refused when BAAS_MODE=production")
        return unsafe_local
    raise SandboxUnavailable(unavailable_message(why))


def unavailable_message(why: str = "") -> str:
    """The 503 text: what is wrong, how to install bubblewrap, and the explicit opt-in."""
    return (
        f"Functions cannot run: no working sandbox on this server{f' ({why})' if why else ''}. "
        "Function code runs only inside bubblewrap. Install it: Debian/Ubuntu `apt-get install bubblewrap`, "
        "Fedora `dnf install bubblewrap`, Arch `pacman -S bubblewrap`. On Ubuntu 24.04 AppArmor blocks "
        "unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1): allow them for bwrap "
        "with an AppArmor profile, or set that sysctl to 0. On a development laptop only, "
        "BAAS_SANDBOX=unsafe-local (or `baas dev --unsafe-local-functions`) runs functions WITHOUT isolation, "
        "as the server's own user; it is refused in production and on a non-loopback address."
    )


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class UnsafeLocalRefused(CommandError):
    """unsafe-local was chosen where it must not run: the command stops with this message."""


def refuse_unsafe_local_on(host: str) -> None:
    """Called by `baas serve` / `baas dev` before they listen: the unsandboxed runner is for a
    laptop, never for a server others can reach. Raises UnsafeLocalRefused with the reason."""
    if settings.BAAS_SANDBOX != UNSAFE_LOCAL:
        return
    if settings.PRODUCTION:
        raise UnsafeLocalRefused(
            "BAAS_SANDBOX=unsafe-local runs functions without any isolation and is refused when BAAS_MODE=production."
        )
    if not is_loopback(host):
        raise UnsafeLocalRefused(
            f"BAAS_SANDBOX=unsafe-local runs functions without any isolation, as this server's user: refused "
            f"while listening on {host}, which other machines can reach. Listen on 127.0.0.1, or install "
            "bubblewrap and drop the unsafe-local setting."
        )


def describe() -> str:
    current, why, _ = _current()
    if current == UNAVAILABLE:
        return f"unavailable: {why} (functions refuse to run: 503 sandbox_unavailable)"
    return isolation().describe()


def log_active_isolation() -> None:
    current = reprobe()  # a worker starting: probe here, now (bwrap may differ from the web side)
    if current == BUBBLEWRAP:
        logger.info("function sandbox: %s", describe())
    elif current == UNSAFE_LOCAL:
        logger.warning(
            "FUNCTION SANDBOX IS NOT ISOLATED: %s. Functions can read this machine's files and network "
            "(chosen explicitly with BAAS_SANDBOX=unsafe-local).",
            describe(),
        )
    else:
        logger.error("function sandbox: %s", unavailable_message(problem()))
