"""Error codes of the functions service."""

from __future__ import annotations

from baas.errors import ApiError


class DeployFailed(ApiError):
    """The code did not load in the sandbox; details carry the user's traceback and output."""

    code, http_status, default_message = "deploy_failed", 400, "The function failed to load."
