"""`baas functions init NAME --lang ts`: each template type-checks and its `deno test` passes as
generated, offline, with no server; a handler that throws makes its test fail; `types` refreshes
the folder's copy of the `baas` module; a deploy bundle leaves that copy and the tests out."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from baas_client.functions_admin import bundle_folder

from functions.cli import build_parser, main
from tests.functions_cli.deno_tools import run_deno

pytestmark = pytest.mark.slow

TEMPLATES = ["http", "document", "object", "schedule"]
MODULE = Path(__file__).resolve().parents[2] / "baas_runtime" / "deno"


def init(tmp: Path, template: str) -> Path:
    assert main(["functions", "init", f"my-{template}", "--lang", "ts", "--template", template, "--dir", str(tmp)]) == 0
    return tmp / f"my-{template}"


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_typescript_template_type_checks_and_its_test_passes_out_of_the_box(tmp_path: Path, template: str) -> None:
    folder = init(tmp_path, template)
    assert {"main.ts", "main_test.ts", "baas.json", "deno.json", ".baas-ts"} <= {p.name for p in folder.iterdir()}
    manifest = json.loads((folder / "baas.json").read_text())
    assert (manifest["entry"], manifest["runtime"], manifest["name"]) == ("main.ts", "deno", f"my-{template}")
    imports = json.loads((folder / "deno.json").read_text())["imports"]
    assert imports == {"baas": "./.baas-ts/mod.ts", "baas/testing": "./.baas-ts/testing.ts"}
    # The copy is the module the server maps `baas` to, after a one-line header.
    copied = (folder / ".baas-ts" / "mod.ts").read_text().split("\n", 1)[1]
    assert copied == (MODULE / "mod.ts").read_text()

    checked = run_deno(["check", "main.ts", "main_test.ts"], folder, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for tidy in (["fmt", "--check"], ["lint", "main.ts", "main_test.ts"]):  # as deno.json formats it
        ran = run_deno(tidy, folder, tmp_path)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    tested = run_deno(["test"], folder, tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert re.search(r"ok \| [1-9]\d* passed \| 0 failed", tested.stdout), tested.stdout


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_handler_that_throws_fails_the_template_test_at_the_authors_line(tmp_path: Path, template: str) -> None:
    folder = init(tmp_path, template)
    main_ts = folder / "main.ts"
    source = main_ts.read_text()
    assert "=> {" in source
    main_ts.write_text(source.replace("=> {", '=> {\n  throw new Error("broken on purpose");', 1))
    line = main_ts.read_text().splitlines().index('  throw new Error("broken on purpose");') + 1

    tested = run_deno(["test"], folder, tmp_path)
    output = tested.stdout + tested.stderr
    assert tested.returncode != 0, output
    assert "broken on purpose" in output and "FAILED" in output
    assert f"main.ts:{line}:" in output, "the stack names the author's own line"


def test_a_type_error_in_the_handler_fails_deno_check(tmp_path: Path) -> None:
    folder = init(tmp_path, "document")
    main_ts = folder / "main.ts"
    main_ts.write_text(main_ts.read_text().replace("event.key, {", "42, {", 1))
    checked = run_deno(["check", "main.ts"], folder, tmp_path)
    assert checked.returncode != 0
    assert "main.ts" in checked.stdout + checked.stderr and "TS2345" in checked.stdout + checked.stderr


def test_the_bundle_leaves_out_the_module_copy_and_the_tests(tmp_path: Path) -> None:
    folder = init(tmp_path, "object")
    (folder / "lib").mkdir()
    for name in ("util.ts", "helpers.mts", "legacy.js", "shared.test.ts", "test.ts", "latest.ts"):
        (folder / "lib" / name).write_text("export const x = 1;\n")
    bundle = bundle_folder(folder)
    assert sorted(bundle.files) == [
        "baas.json",
        "deno.json",
        "lib/helpers.mts",
        "lib/latest.ts",
        "lib/legacy.js",
        "lib/util.ts",
        "main.ts",
    ]
    assert bundle.config["runtime"] == "deno" and bundle.config["entry"] == "main.ts"
    # The import map's entries for the local copy stay local (the server maps `baas` itself); the
    # author's own entries are deployed.
    config = json.loads((folder / "deno.json").read_text())
    config["imports"]["zod"] = "npm:zod@3"
    (folder / "deno.json").write_text(json.dumps(config))
    with zipfile.ZipFile(io.BytesIO(bundle_folder(folder).archive)) as archive:
        deployed = json.loads(archive.read("deno.json"))
    assert deployed["imports"] == {"zod": "npm:zod@3"}
    assert deployed["tasks"] == config["tasks"]


def test_types_refreshes_the_module_copy_and_keeps_the_rest_of_deno_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = init(tmp_path, "http")
    (folder / ".baas-ts" / "mod.ts").write_text("// an older baas\n")
    (folder / ".baas-ts" / "testing.ts").unlink()
    config = json.loads((folder / "deno.json").read_text())
    config["imports"] = {"baas": "./old/mod.ts", "zod": "npm:zod@3"}
    (folder / "deno.json").write_text(json.dumps(config))
    capsys.readouterr()

    assert main(["functions", "types", str(folder)]) == 0
    assert "updated .baas-ts/mod.ts, .baas-ts/testing.ts, deno.json" in capsys.readouterr().out
    assert (folder / ".baas-ts" / "mod.ts").read_text().endswith((MODULE / "mod.ts").read_text())
    refreshed = json.loads((folder / "deno.json").read_text())
    assert refreshed["imports"]["zod"] == "npm:zod@3" and refreshed["imports"]["baas"] == "./.baas-ts/mod.ts"
    assert refreshed["tasks"] == config["tasks"]

    assert main(["functions", "types", str(folder)]) == 0
    assert "is up to date" in capsys.readouterr().out

    (folder / "deno.json").write_text("{ // a comment\n}")
    assert main(["functions", "types", str(folder)]) == 1
    assert '"baas": "./.baas-ts/mod.ts"' in capsys.readouterr().err


def test_init_help_shows_the_language_and_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["init", "--help"])
    shown = capsys.readouterr().out
    assert "--lang {py,ts}" in shown and "example:\n  baas functions init thumbnails --lang ts" in shown
    with pytest.raises(SystemExit):
        parser.parse_args(["types", "--help"])
    assert "example:\n  baas functions types ./hello" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    assert "baas functions init hello --lang ts && cd hello && deno test" in capsys.readouterr().out


def test_python_stays_the_default_language(tmp_path: Path) -> None:
    assert main(["functions", "init", "plain", "--dir", str(tmp_path)]) == 0
    assert {"main.py", "test_main.py", "conftest.py", "baas.json"} <= {p.name for p in (tmp_path / "plain").iterdir()}
    assert not (tmp_path / "plain" / "main.ts").exists()
