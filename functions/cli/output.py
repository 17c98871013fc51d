"""What the CLI prints: errors with their cause and remedy, tables, invocations with their logs."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from baas_client import BaasError


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def error(err: BaasError, target: Any) -> None:
    """An API or network error, with what to do about the common ones."""
    if err.code == "network_error":
        fail(f"cannot reach {target.url} (from {target.url_from}). Is the server running? Locally: `baas dev`.")
        return
    fail(f"{err.message} ({err.code})")
    if err.code in ("token_invalid", "not_authenticated", "token_expired"):
        print(f"  the service key from {target.key_from} is not valid on {target.url}", file=sys.stderr)
    elif err.code == "permission_denied":
        print("  managing functions needs a service key (or a staff account)", file=sys.stderr)
    for field, problems in (err.details or {}).items():
        if isinstance(problems, list):
            for problem in problems:
                if isinstance(problem, dict) and problem.get("file") and problem.get("line"):
                    # A TypeScript diagnostic: where, as editors and `deno check` print it.
                    where = f"{problem['file']}:{problem['line']}:{problem.get('column', 1)}"
                    code = f" ({problem['code']})" if problem.get("code") else ""
                    print(f"  {where}: {problem.get('message', '')}{code}", file=sys.stderr)
                elif isinstance(problem, dict):
                    print(f"  {field}: {problem.get('message', problem)}", file=sys.stderr)
    failure = (err.details or {}).get("error")
    if isinstance(failure, dict):
        user_error(failure, (err.details or {}).get("logs"))


def user_error(failure: dict[str, Any], logs: str | None = None) -> None:
    """The function's own failure: its output, then its traceback (or message)."""
    if logs:
        print(logs.rstrip("\n"), file=sys.stderr)
    text = failure.get("traceback") or f"{failure.get('type', 'Error')}: {failure.get('message', '')}"
    print(text.rstrip("\n"), file=sys.stderr)


def table(rows: list[list[str]], headers: list[str]) -> None:
    if not rows:
        return
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def triggers_of(version: Mapping[str, Any] | None) -> str:
    if not version:
        return "-"
    names = []
    for trigger in version.get("triggers") or []:
        kind = trigger.get("type", "?")
        where = trigger.get("collection") or trigger.get("bucket") or trigger.get("cron") or ""
        if trigger.get("every"):
            where = f"every {trigger['every']} s"
        names.append(f"{kind}({where})" if where else kind)
    return ", ".join(names) or "none"


def header(item: dict[str, Any]) -> str:
    """One line per finished attempt: when, which, status, trigger and event, attempts, timings."""
    when = (item.get("finished_at") or item.get("created_at") or "")[:23]
    parts = [f"{when} {item['function']} v{item['version']} {item['status'].upper()}", item["trigger"]]
    if item.get("event_id"):
        parts.append(f"event {item['event_id']}")
    if item.get("attempts", 1) > 1 or item.get("status") == "retrying":
        parts.append(f"attempt {item['attempts']}/{item.get('max_attempts', '?')}")
    if item.get("duration_ms") is not None:
        parts.append(f"{item['duration_ms']} ms")
    if item.get("status") == "retrying" and item.get("next_attempt_at"):
        parts.append(f"next attempt {item['next_attempt_at']}")
    parts.append(f"id {item['id']}")
    return " · ".join(parts)


def invocation(item: dict[str, Any]) -> None:
    print(header(item))
    if item.get("logs"):
        for line in item["logs"].rstrip("\n").splitlines():
            print(f"  | {line}")
    if item.get("error"):
        err = item["error"]
        text = err.get("traceback") or f"{err.get('code', '')}: {err.get('message', '')}"
        for line in text.rstrip("\n").splitlines():
            print(f"  ! {line}")
    elif item.get("status") == "succeeded" and item.get("result") is not None:
        print(f"  = {json.dumps(item['result'])[:500]}")
    sys.stdout.flush()
