"""Dependencies: granian is an optional extra, and the lock files cover pyproject.toml."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]


def test_wsgi_interface_without_granian_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import granian` raise ImportError, as if it were not installed.
    monkeypatch.setitem(sys.modules, "granian", None)
    with pytest.raises(CommandError, match=r"baas\[wsgi\]"):
        call_command("serve", "--interface", "wsgi", "--port", "1")


def _pins(text: str) -> dict[str, str]:
    return {
        re.sub(r"[-_.]+", "-", name).lower(): version
        for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", text, re.M)
    }


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements.lock", ["wsgi"]), ("requirements-dev.lock", ["wsgi", "dev"])]
)
def test_lock_pins_what_pyproject_pins(lock: str, extras: list[str]) -> None:
    """A pyproject.toml edited without `scripts/lock` leaves a lock that installs other versions."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = "\n".join([*project["dependencies"], *(d for e in extras for d in project["optional-dependencies"][e])])
    locked = _pins((ROOT / lock).read_text())
    assert "--hash=sha256:" in (ROOT / lock).read_text()
    mismatched = {
        name: (version, locked.get(name)) for name, version in _pins(declared).items() if locked.get(name) != version
    }
    assert not mismatched, f"run scripts/lock: (pyproject, {lock}) differ for {mismatched}"
