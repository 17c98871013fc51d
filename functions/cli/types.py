"""The `baas` module in a TypeScript function's folder: `.baas-ts/mod.ts` (the module functions
import) and `.baas-ts/testing.ts` (the `deno test` harness), copied from this package, and the
`deno.json` import map that points `baas` and `baas/testing` at them.

They are there for `deno check`, `deno test` and editors on the author's machine. A deploy leaves
`.baas-ts/` out (dot-folders stay on the laptop), and the import map's entries pointing into it
(`bundle_folder`), and the server maps `baas` to its own copy, so
the copy only has to match the server's version for the types to tell the truth: `baas functions
types DIR` refreshes it after an upgrade. The folder is not `.baas/`, which is `baas dev`'s
default data folder.
"""

from __future__ import annotations

import json
from importlib import metadata, resources
from pathlib import Path
from typing import Any

FOLDER = ".baas-ts"
IMPORTS = {"baas": f"./{FOLDER}/mod.ts", "baas/testing": f"./{FOLDER}/testing.ts"}
SOURCES = ("mod.ts", "testing.ts")


def _version() -> str:
    try:
        return metadata.version("baas")
    except metadata.PackageNotFoundError:  # a source checkout that was not installed
        return "source"


def module_files() -> dict[str, str]:
    """`.baas-ts/mod.ts` and `.baas-ts/testing.ts` as this version of baas ships them."""
    source = resources.files("baas_runtime").joinpath("deno")
    header = (
        f"// Copied by `baas functions` from baas {_version()}; do not edit. "
        "`baas functions types .` refreshes it after an upgrade.\n"
    )
    return {f"{FOLDER}/{name}": header + source.joinpath(name).read_text(encoding="utf-8") for name in SOURCES}


def deno_config(existing: dict[str, Any]) -> dict[str, Any]:
    """A deno.json with the `baas` entries of the import map set (the rest kept)."""
    config = dict(existing)
    imports = config.get("imports")
    config["imports"] = {**(imports if isinstance(imports, dict) else {}), **IMPORTS}
    return config


def refresh(folder: Path) -> list[str]:
    """Rewrite `.baas-ts/` and the import map's `baas` entries of `folder`; returns what changed.
    A `deno.json` that is not plain JSON (comments: deno.jsonc) is left alone: ValueError says what
    to add."""
    changed = []
    for relative, text in module_files().items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(relative)
    config_path = folder / "deno.json"
    existing = _read_config(config_path)
    wanted = deno_config(existing)
    if wanted != existing:
        config_path.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")
        changed.append("deno.json")
    return changed


def _read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise ValueError(f'{path} is not a plain JSON object; add to its "imports": {json.dumps(IMPORTS)}')
    return config
