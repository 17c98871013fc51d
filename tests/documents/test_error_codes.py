"""Every code of documents.errors.DocumentsCode is documented in docs/errors.md (SDKs switch on them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from documents.errors import DocumentsCode

ERRORS_PAGE = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()


@pytest.mark.parametrize("code", list(DocumentsCode), ids=str)
def test_every_documents_code_is_in_the_errors_page(code):
    assert f"`{code.value}`" in ERRORS_PAGE
