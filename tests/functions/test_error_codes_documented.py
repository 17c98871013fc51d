"""Every code functions answers or records is documented in docs/errors.md: SDKs switch on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.errors import DetailCode, FunctionsCode, InvocationCode

ERRORS_MD = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()


@pytest.mark.parametrize("code", [*FunctionsCode, *InvocationCode, *DetailCode], ids=str)
def test_the_code_is_in_docs_errors_md(code: str) -> None:
    assert f"`{code}`" in ERRORS_MD


@pytest.mark.parametrize("code", list(FunctionsCode), ids=str)
def test_an_answer_code_has_its_status_in_the_request_table(code: str) -> None:
    from functions.errors import DeployFailed, SandboxUnavailable

    status = {error.code: error.http_status for error in (DeployFailed, SandboxUnavailable)}[code]
    assert f"| `{code}` | {status} |" in ERRORS_MD
