"""auth/errors.py: every code auth answers with is documented in docs/errors.md with its status,
and every code auth puts in a field error is listed there too."""

from __future__ import annotations

import re
from pathlib import Path

from auth.errors import AuthCode, AuthFieldCode
from baas.errors import KernelCode

ERRORS_MD = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()


def test_every_auth_code_is_a_kernel_code_documented_with_its_status():
    for code in AuthCode:
        assert code.value in set(KernelCode), code
        assert re.search(rf"^\| `{code.value}`[^|]*\| \d{{3}} \|", ERRORS_MD, re.MULTILINE), code


def test_every_auth_field_code_is_listed_among_the_detail_codes_of_auth_bodies():
    [row] = [line for line in ERRORS_MD.splitlines() if line.startswith("| auth bodies")]
    for code in AuthFieldCode:
        assert f"`{code.value}`" in row, code
