"""`baas functions dev` redeploys when what a deploy would bundle changes: for a TypeScript
function its `.ts`, `.mts`, `.js`, `.mjs` files and `deno.json`, not its tests or `.baas-ts/`."""

from __future__ import annotations

import os
from pathlib import Path

from baas_client.functions_admin import watched_files

from functions.cli import templates_ts


def make_folder(root: Path) -> Path:
    for relative, text in templates_ts.files_of("http", "hello").items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    (root / "lib").mkdir()
    for name in ("a.mts", "b.js", "c.mjs"):
        (root / "lib" / name).write_text("export const x = 1;\n")
    return root


def touched(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a coarse clock still sees it


def test_dev_watches_the_typescript_sources_and_deno_json(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    seen = watched_files(folder)
    assert set(seen) == {"main.ts", "lib/a.mts", "lib/b.js", "lib/c.mjs", "deno.json", "baas.json"}
    for relative in ("main.ts", "lib/a.mts", "lib/b.js", "lib/c.mjs", "deno.json"):
        before = watched_files(folder)
        touched(folder / relative, (folder / relative).read_text() + "\n")
        assert watched_files(folder) != before, f"a change of {relative} is not seen"


def test_dev_ignores_the_tests_and_the_module_copy(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    before = watched_files(folder)
    touched(folder / "main_test.ts", "// edited\n")
    touched(folder / ".baas-ts" / "mod.ts", "// refreshed\n")
    (folder / "other.test.mjs").write_text("\n")
    assert watched_files(folder) == before
