"""Where the CLI finds its server: flags, then the environment, then `baas login`'s file.

The file is `$BAAS_CONFIG`, else `$XDG_CONFIG_HOME/baas/config.json` (default `~/.config`), a JSON
object `{"url": ..., "key": ...}` readable by its owner only (it holds a service key).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass
class Target:
    url: str
    key: str | None
    url_from: str  # where the URL came from, for error messages
    key_from: str


def config_path() -> Path:
    if os.environ.get("BAAS_CONFIG"):
        return Path(os.environ["BAAS_CONFIG"]).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "baas" / "config.json"


def read_config() -> dict[str, str]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        raise SystemExit(f"baas: {path} is not valid JSON; run `baas login URL` again") from None
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def write_config(url: str, key: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created owner-only before the key is written into it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"url": url.rstrip("/"), "key": key}, out, indent=2)
    path.chmod(0o600)
    return path


def resolve(url_flag: str | None, key_flag: str | None) -> Target:
    saved = read_config()
    url, url_from = DEFAULT_URL, "the default"
    if url_flag:
        url, url_from = url_flag, "--url"
    elif os.environ.get("BAAS_URL"):
        url, url_from = os.environ["BAAS_URL"], "BAAS_URL"
    elif saved.get("url"):
        url, url_from = saved["url"], str(config_path())
    key, key_from = None, "nowhere"
    if key_flag:
        key, key_from = key_flag, "--key"
    elif os.environ.get("BAAS_SERVICE_KEY"):
        key, key_from = os.environ["BAAS_SERVICE_KEY"], "BAAS_SERVICE_KEY"
    elif saved.get("key") and (url_from in ("the default", str(config_path())) or saved.get("url") == url.rstrip("/")):
        key, key_from = saved["key"], str(config_path())
    return Target(url.rstrip("/"), key, url_from, key_from)
