"""Function sandboxes: one module per isolation kind, each exposing the same `launch()` interface.

- `bubblewrap`: namespaces, an unprivileged uid, seccomp, rlimits and (where writable) cgroups.
- `unsafe_local`: a plain subprocess with rlimits, for a laptop without bubblewrap. Refused in
  production.

`process.SandboxProcess` drives either kind over the same protocol; `pool.SandboxPool` keeps
warm ones per worker process.
"""

from __future__ import annotations

import logging
import shutil
from functools import lru_cache
from types import ModuleType

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("baas.functions.sandbox")


@lru_cache(maxsize=1)
def isolation() -> ModuleType:
    """The isolation module in use, chosen by `BAAS_SANDBOX` (and refused if too weak)."""
    from functions.sandbox import bubblewrap, unsafe_local

    wanted = settings.BAAS_SANDBOX
    if wanted == "bubblewrap":
        return bubblewrap
    if wanted == "unsafe-local":
        if settings.PRODUCTION:
            raise ImproperlyConfigured("BAAS_SANDBOX=unsafe-local is refused when BAAS_MODE=production")
        return unsafe_local
    # "auto" (dev only): bubblewrap when installed, else the weak fallback, loudly.
    if shutil.which(settings.FUNCTIONS_BWRAP) or shutil.os.path.exists(settings.FUNCTIONS_BWRAP):
        return bubblewrap
    if settings.PRODUCTION:
        raise ImproperlyConfigured("production needs bubblewrap for functions (apt-get install bubblewrap)")
    return unsafe_local


def describe() -> str:
    kind = isolation()
    return kind.describe()


def log_active_isolation() -> None:
    kind = isolation()
    if kind.STRONG:
        logger.info("function sandbox: %s", kind.describe())
    else:
        logger.warning(
            "FUNCTION SANDBOX IS NOT ISOLATED: %s. Functions can read this machine's files and "
            "network. Install bubblewrap (apt-get install bubblewrap) for real isolation.",
            kind.describe(),
        )
