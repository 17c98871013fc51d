"""The handlers a function module declares with the trigger decorators, in declaration order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]

# Filled while the user's module is imported; read by the launcher to report the triggers.
handlers: dict[str, Handler] = {}
triggers: list[dict[str, Any]] = []


def register(trigger: dict[str, Any]) -> Callable[[Handler], Handler]:
    def decorate(function: Handler) -> Handler:
        if not callable(function):
            raise TypeError("a trigger decorator must decorate a function")
        name = getattr(function, "__qualname__", getattr(function, "__name__", "handler"))
        if name in handlers and handlers[name] is not function:
            raise ValueError(f"two handlers are named {name!r}; give them different names")
        handlers[name] = function
        triggers.append({**trigger, "handler": name})
        return function

    return decorate
