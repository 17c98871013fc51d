"""The lean bearer dispatch of the document views: `auth.bearer_dispatch` (shared with the auth
API's current-user route), named here too for the documents' docs and tests."""

from __future__ import annotations

from auth.bearer_dispatch import LeanBearerDispatch, check_lean_path, lean_authenticators

__all__ = ["LeanBearerDispatch", "check_lean_path", "lean_authenticators"]
