"""Every code the websocket answers with is a `RealtimeCode`, and docs/errors.md ("Realtime")
lists exactly those codes, with what happens to the connection; every `error` carries `details`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from realtime.errors import CloseCode, RealtimeCode, RealtimeError, error_message, problem_with

DOCS = Path(__file__).resolve().parents[2] / "docs"


def realtime_section() -> str:
    text = (DOCS / "errors.md").read_text()
    start = text.index("\n## Realtime")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_docs_list_exactly_the_realtime_codes():
    rows = [line for line in realtime_section().splitlines() if line.startswith("| `")]
    documented = {code for row in rows for code in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    assert documented == {code.value for code in RealtimeCode}


def test_docs_name_every_close_code():
    section = realtime_section()
    for code in CloseCode:
        assert str(code.value) in section, code


def test_an_error_message_always_carries_details_as_an_object():
    plain = json.loads(error_message(RealtimeCode.IDLE_TIMEOUT, "Quiet."))
    assert plain == {"op": "error", "code": "idle_timeout", "message": "Quiet.", "details": {}}
    answered = json.loads(error_message("invalid_filter", "Bad.", {"line": 1, "column": 3}, request_id="s"))
    assert list(answered) == ["op", "id", "code", "message", "details"]
    assert answered["details"] == {"line": 1, "column": 3} and answered["id"] == "s"


def test_a_refused_field_has_the_field_error_shape():
    error = RealtimeError.field(RealtimeCode.INVALID_REQUEST, "since", "No.", problem=problem_with("1", expected=int))
    assert error.details == {"since": [{"code": "invalid_type", "message": "No."}]}
    assert problem_with(None, expected=str) == "required"
    assert problem_with(True, expected=int) == "invalid_type"
    assert problem_with(-1, expected=int) == "invalid"
