"""Helpers shared by the Storage, Functions and Realtime pages: a service's refusal as messages a
form can show, and the answer status that goes with it (htmx swaps 4xx answers in)."""

from __future__ import annotations

from typing import Any

from baas.errors import ApiError, from_exception
from baas.jsonvalues import UnacceptableValue
from baas.rules.errors import RulesError

# What the services raise to refuse a request: the API's errors, and those of the modules that do
# not import Django (a rule that does not parse, a JSON value outside the policy), shaped alike.
REFUSALS = (ApiError, RulesError, UnacceptableValue)


def messages_of(refusal: Exception) -> list[str]:
    """The error's message, then one line per invalid field (`field: why`)."""
    error = from_exception(refusal)
    lines = [error.message]
    for field, problems in (error.details or {}).items():
        if isinstance(problems, list):
            for problem in problems:
                if isinstance(problem, dict) and problem.get("message") and problem["message"] != error.message:
                    lines.append(f"{field}: {problem['message']}")
    return lines


def status_of(refusal: Exception) -> int:
    """The status to answer a refused form with: the service's own 4xx, else 400."""
    error = from_exception(refusal)
    return error.http_status if 400 <= error.http_status < 500 else 400


def checked(value: Any) -> bool:
    """A checkbox's value: present and not empty means checked."""
    return value not in (None, "", "0", "false", "off")
