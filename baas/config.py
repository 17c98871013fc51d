"""Strict readers for configuration from the environment.

Every setting comes from an environment variable (optionally loaded from a `.env` file first).
A malformed value stops start-up with a message that names the variable: a typo must never turn
into a silent default in production.
"""

from __future__ import annotations

import os
from pathlib import Path


class ConfigError(Exception):
    """Raised at start-up when a setting is missing or malformed."""


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, default: str | None = None) -> str | None:
    """Read a secret from NAME, or from the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE points at {file_name!r}, which cannot be read: {exc}") from None
    return env_str(name, default)


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default) or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


_RATE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(text: str) -> tuple[int, int]:
    """`"10/60"` or `"10/m"` (s, m, h, d) → (10, 60): at most 10 hits per 60 seconds.

    The one rate syntax, for settings (`env_rate`) and for `baas.ratelimit.Rate.parse`; kept free
    of Django so that settings can use it. Raises ValueError on anything else.
    """
    count, _, per = text.partition("/")
    try:
        limit = int(count)
        window = _RATE_UNITS[per] if per in _RATE_UNITS else int(per)
    except (ValueError, KeyError):
        raise ValueError(f"a rate looks like 10/60 or 10/m, not {text!r}") from None
    if limit < 1 or window < 1:
        raise ValueError(f"a rate needs a positive count and window, not {text!r}")
    return limit, window


def env_rate(name: str, default: str) -> tuple[int, int]:
    """A rate (`parse_rate`) from NAME as (count, seconds); a malformed one names the variable."""
    text = env_str(name, default) or default
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def load_dotenv_file() -> None:
    """Load `.env` (or the file named by BAAS_ENV_FILE) without overriding the real environment."""
    from dotenv import load_dotenv

    path = os.environ.get("BAAS_ENV_FILE") or ".env"
    if Path(path).is_file():
        load_dotenv(path, override=False)
