"""`baas/testing` (baas_runtime/deno/testing.ts), the `deno test` harness of TypeScript functions:
its own tests, written in TypeScript (ts/testing_test.ts), pass under the pinned Deno, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functions_cli.deno_tools import run_deno

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent


def test_the_harness_own_typescript_tests_pass(tmp_path: Path) -> None:
    ran = run_deno(["test", "ts/testing_test.ts"], HERE, tmp_path)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output
    assert " 0 failed" in output and "8 passed" in output, output


def test_the_module_and_the_harness_are_formatted_and_lint_clean(tmp_path: Path) -> None:
    module = HERE / "../../baas_runtime/deno"
    sources = [str(module / "mod.ts"), str(module / "testing.ts"), str(HERE / "ts" / "testing_test.ts")]
    for tidy in (["fmt", "--check", "--line-width", "120", *sources], ["lint", *sources]):
        ran = run_deno(tidy, HERE, tmp_path)
        assert ran.returncode == 0, ran.stdout + ran.stderr


def test_a_failing_typescript_test_fails_the_run(tmp_path: Path) -> None:
    """The runner above would notice a failure: a test of the harness that is wrong fails `deno test`."""
    wrong = tmp_path / "wrong_test.ts"
    harness = (HERE / "../../baas_runtime/deno/testing.ts").resolve().as_uri()
    wrong.write_text(
        f'import {{ TestPlatform }} from "{harness}";\n'
        'Deno.test("documents start empty", () => {\n'
        "  using platform = new TestPlatform();\n"
        '  platform.seed("notes", { a: 1 });\n'
        '  if (platform.documents("notes").length !== 0) throw new Error("not empty");\n'
        "});\n"
    )
    ran = run_deno(["test", str(wrong)], tmp_path, tmp_path)
    assert ran.returncode != 0
    assert "not empty" in ran.stdout + ran.stderr
