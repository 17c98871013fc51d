"""`baas functions deploy|invoke|logs|list`: the functions API from a laptop.

Talks HTTP (stdlib urllib only) to `--url` / BAAS_URL with `--key` / BAAS_SERVICE_KEY. A folder
is bundled as a zip (skipping dot-files and __pycache__); an optional `baas.json` in it carries the
deploy settings (entry, timeout, memory, env, network, permissions, max_retries, invoke).
Secrets come from `--secret NAME=VALUE` (never from a file in the bundle).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Deploy, invoke and inspect functions on a baas server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default=os.environ.get("BAAS_URL", "http://127.0.0.1:8000"))
        parser.add_argument("--key", default=os.environ.get("BAAS_SERVICE_KEY"))
        sub = parser.add_subparsers(dest="action", required=True)
        deploy = sub.add_parser("deploy", help="bundle a folder and deploy it")
        deploy.add_argument("folder")
        deploy.add_argument("--name")
        deploy.add_argument("--secret", action="append", default=[], metavar="NAME=VALUE")
        invoke = sub.add_parser("invoke", help="call a function's @on_http handler")
        invoke.add_argument("name")
        invoke.add_argument("--data", default="null", help="the payload, as JSON")
        logs = sub.add_parser("logs", help="recent invocations with their logs")
        logs.add_argument("name")
        logs.add_argument("--follow", "-f", action="store_true")
        logs.add_argument("--limit", type=int, default=10)
        sub.add_parser("list", help="deployed functions")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["key"]:
            raise CommandError("a service key is needed: --key or BAAS_SERVICE_KEY")
        self.url = options["url"].rstrip("/")
        self.key = options["key"]
        getattr(self, f"_{options['action']}")(options)

    # --- HTTP ---------------------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        content_type: str = "application/json",
        progress: bool = False,
    ) -> Any:
        payload = data if data is not None else (json.dumps(body).encode() if body is not None else None)
        stream: Any = payload
        if payload is not None and progress:
            stream = _Progress(payload, self.stderr)
        request = urllib.request.Request(self.url + path, data=stream, method=method)
        request.add_header("Authorization", f"Bearer {self.key}")
        if payload is not None:
            request.add_header("Content-Type", content_type)
            request.add_header("Content-Length", str(len(payload)))
        try:
            with urllib.request.urlopen(request, timeout=330) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                detail = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                raise CommandError(f"{method} {path}: HTTP {error.code}") from None
            message = f"{detail['message']} ({detail['code']})"
            failure = (detail.get("details") or {}).get("error") or {}
            if failure.get("traceback"):
                message += "\n" + failure["traceback"]
            raise CommandError(message) from None
        except urllib.error.URLError as error:
            raise CommandError(f"cannot reach {self.url}: {error.reason}") from None
        return json.loads(raw) if raw else None

    # --- actions -------------------------------------------------------------------------------------
    def _deploy(self, options: dict[str, Any]) -> None:
        folder = Path(options["folder"])
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        config: dict[str, Any] = {}
        manifest = folder / "baas.json"
        if manifest.exists():
            config = json.loads(manifest.read_text())
        config["name"] = options["name"] or config.get("name") or folder.resolve().name
        secrets = dict(item.split("=", 1) for item in options["secret"] if "=" in item)
        if secrets:
            config["secrets"] = secrets
        files = [p for p in sorted(folder.rglob("*")) if p.is_file() and _wanted(p.relative_to(folder))]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for index, path in enumerate(files, 1):
                archive.write(path, path.relative_to(folder).as_posix())
                self.stderr.write(f"\rbundling {index}/{len(files)} files", ending="")
        self.stderr.write(f"\rbundled {len(files)} files, {len(buffer.getvalue())} bytes")
        boundary = uuid.uuid4().hex
        body = _multipart(boundary, {"config": json.dumps(config)}, buffer.getvalue())
        version = self._request(
            "POST", "/v1/functions", data=body, progress=True, content_type=f"multipart/form-data; boundary={boundary}"
        )
        triggers = ", ".join(t["type"] for t in version["triggers"]) or "none"
        self.stdout.write(f"deployed {version['function']} version {version['version']} (triggers: {triggers})")
        if version.get("sandbox") == "unsafe-local":
            self.stderr.write(
                "WARNING: this server runs functions WITHOUT a sandbox (BAAS_SANDBOX=unsafe-local): the code runs "
                "as the server's own user and can read and change its files. Install bubblewrap for isolation."
            )

    def _invoke(self, options: dict[str, Any]) -> None:
        try:
            payload = json.loads(options["data"])
        except ValueError:
            raise CommandError("--data must be JSON") from None
        answer = self._request("POST", f"/v1/functions/{options['name']}/invoke", {"payload": payload})
        invocation = answer["invocation"]
        if invocation.get("logs"):
            self.stderr.write(invocation["logs"].rstrip("\n"))
        if invocation["status"] == "failed":
            error = invocation.get("error") or {}
            raise CommandError(error.get("traceback") or error.get("message") or "the invocation failed")
        self.stdout.write(json.dumps(answer.get("result"), indent=2))

    def _logs(self, options: dict[str, Any]) -> None:
        """Recent invocations, oldest first; with --follow, then every new one as it finishes (and
        each retry or death of an event invocation as it happens), polling twice a second."""
        shown: set[tuple[str, str, int]] = set()
        path = f"/v1/functions/{options['name']}/invocations?limit={options['limit']}"
        while True:
            page = self._request("GET", path)
            for item in reversed(page["items"]):
                if item["status"] in ("queued", "running"):
                    continue
                state = (item["id"], item["status"], item["attempts"])
                if state in shown:
                    continue
                shown.add(state)
                self.stdout.write(_describe(item))
                if item["logs"]:
                    self.stdout.write(item["logs"].rstrip("\n"))
                if item["error"]:
                    self.stdout.write(item["error"].get("traceback") or item["error"].get("message", ""))
            if not options["follow"]:
                return
            self.stdout.flush()
            time.sleep(0.5)

    def _list(self, options: dict[str, Any]) -> None:
        for function in self._request("GET", "/v1/functions?limit=1000")["items"]:
            active = function["active_version"] or {}
            triggers = ", ".join(t["type"] for t in active.get("triggers", []))
            self.stdout.write(f"{function['name']}\tv{function['version']}\t{triggers}")


def _describe(item: dict[str, Any]) -> str:
    """One header line per invocation: when, which, status, trigger and event, attempts, timings."""
    parts = [f"--- {item['created_at']} {item['id']} v{item['version']} {item['status']}", item["trigger"]]
    if item.get("event_id"):
        parts.append(f"event {item['event_id']}")
    if item.get("attempts", 1) != 1:
        parts.append(f"attempt {item['attempts']}")
    if item.get("queue_delay_ms") is not None:
        parts.append(f"queued {item['queue_delay_ms']} ms")
    if item.get("duration_ms") is not None:
        parts.append(f"ran {item['duration_ms']} ms")
    if item.get("status") == "retrying" and item.get("next_attempt_at"):
        parts.append(f"next attempt {item['next_attempt_at']}")
    return " · ".join(parts)


def _wanted(relative: Path) -> bool:
    return not any(part.startswith(".") or part == "__pycache__" for part in relative.parts)


def _multipart(boundary: str, fields: dict[str, str], bundle: bytes) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="bundle"; filename="bundle.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n".encode()
        + bundle
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


class _Progress(io.BytesIO):
    """A body that reports upload progress as urllib reads it."""

    def __init__(self, data: bytes, out: Any) -> None:
        super().__init__(data)
        self.total, self.out = len(data), out

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(min(size, 65536) if size and size > 0 else 65536)
        self.out.write(f"\ruploading {self.tell() * 100 // max(self.total, 1)}%", ending="")
        if not chunk:
            self.out.write("")
        sys.stderr.flush()
        return chunk
