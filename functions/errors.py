"""Error codes of the functions service."""

from __future__ import annotations

from baas.errors import ApiError


class DeployFailed(ApiError):
    """The code did not load in the sandbox; details carry the user's traceback and output."""

    code, http_status, default_message = "deploy_failed", 400, "The function failed to load."


class SandboxUnavailable(ApiError):
    """No working sandbox (bubblewrap missing or unable to start one) and unsafe-local not chosen:
    no function code may run. The message says how to install bubblewrap and the opt-in."""

    code, http_status, default_message = "sandbox_unavailable", 503, "Functions cannot run: no working sandbox."
