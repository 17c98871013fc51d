"""Storage's own codes (storage/errors.py) are the documented ones: every `StorageCode` is a row of
docs/errors.md with the status its exception answers, every `StorageDetail` is documented where
clients find it, and no code of storage's is left undocumented."""

from __future__ import annotations

import re
from pathlib import Path

from baas.errors import ApiError
from storage import errors
from storage.errors import StorageCode, StorageDetail

DOC = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()


def _section(title: str) -> str:
    return DOC.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _documented_statuses() -> dict[str, int]:
    """code → status from the table of request codes."""
    found: dict[str, int] = {}
    for line in _section("Request codes").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[1].isdigit():
            for code in re.findall(r"`([a-z_]+)`", cells[0]):
                found[code] = int(cells[1])
    return found


def _exceptions() -> dict[str, type[ApiError]]:
    return {
        str(value.code): value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, ApiError) and value.code in set(StorageCode)
    }


def test_every_storage_code_is_documented_with_the_status_it_answers():
    documented = _documented_statuses()
    raised = _exceptions()
    assert set(raised) == set(StorageCode)  # each code has its exception
    for code in StorageCode:
        assert documented.get(code) == raised[code].http_status, code


def test_every_storage_detail_code_is_documented_inside_details():
    details = _section("Detail codes (inside `details` of a 400)")
    assert f"`{StorageDetail.INVALID_BUCKET_NAME}`" in details
    conflict = next(line for line in _section("Request codes").splitlines() if line.startswith("| `conflict` | 409"))
    assert f"`details.reason` is `{StorageDetail.BUCKET_NOT_EMPTY}`" in conflict


def test_detail_codes_are_not_top_level_codes():
    documented = _documented_statuses()
    assert not set(StorageDetail) & set(documented)
