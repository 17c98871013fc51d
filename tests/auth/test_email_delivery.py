"""Auth emails go through the task queue: an acknowledged request's email survives the web
process, and a failing mail server is retried. Real `baas serve` and `baas worker` processes on
the embedded folder queue, and a small SMTP server written here that records what it receives."""

from __future__ import annotations

import asyncio
import hashlib
import re
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BAAS_BIN, PASSWORD, free_port
from tests.platform.processes import RunningProcess, baas, http, platform_env, processes_with_marker, wait_until

pytestmark = pytest.mark.slow


class SmtpSink:
    """Speaks just enough SMTP for smtplib; answers 451 to the first `fail_first` messages."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.attempts = 0
        self.messages: list[str] = []
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._session, "127.0.0.1", self.port))
        ready.set()
        self.loop.run_forever()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        await reply("220 sink ESMTP")
        while line := await reader.readline():
            verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
            if verb == "DATA":
                await reply("354 go ahead")
                data = await reader.readuntil(b"\r\n.\r\n")
                self.attempts += 1
                if self.attempts <= self.fail_first:
                    await reply("451 try again later")
                else:
                    self.messages.append(data.decode(errors="replace"))
                    await reply("250 queued")
            elif verb == "QUIT":
                await reply("221 bye")
                break
            else:  # EHLO, HELO, MAIL, RCPT, RSET, NOOP
                await reply("250 ok")
        writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[dict]:
    """Environment of one platform (data folder, marker); every process it starts ends with it."""
    marker = f"auth-mail-{uuid.uuid4().hex[:12]}"
    started: list[RunningProcess] = []
    yield {"tmp": tmp_path, "marker": marker, "started": started}
    for process in started:
        process.kill()
    assert wait_until(lambda: processes_with_marker(marker) == [], timeout=10), processes_with_marker(marker)


def environment(platform: dict, sink: SmtpSink) -> dict[str, str]:
    env = platform_env(
        platform["marker"],
        BAAS_DATA_DIR=str(platform["tmp"] / "data"),
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(sink.port),
        EMAIL_USE_TLS="false",
        EMAIL_TIMEOUT="5",
        AUTH_EMAIL_IN_BACKGROUND="true",
        AUTH_EMAIL_RETRY_BACKOFF_SECONDS="1",
        LOG_LEVEL="WARNING",
    )
    subprocess.run([BAAS_BIN, "migrate", "-v", "0"], env=env, check=True)
    return env


def start_web(platform: dict, env: dict[str, str]) -> tuple[RunningProcess, str]:
    port = free_port()
    web = baas("serve", "--port", str(port), env=env)
    platform["started"].append(web)
    base = f"http://127.0.0.1:{port}"
    assert wait_until(lambda: http("GET", f"{base}/v1/health")[0] == 200, timeout=60), web.text
    return web, base


def start_worker(platform: dict, env: dict[str, str]) -> RunningProcess:
    worker = RunningProcess([BAAS_BIN, "worker", "--pool", "threads", "--concurrency", "2"], env=env)
    platform["started"].append(worker)
    assert wait_until(lambda: "ready" in worker.text or worker.process.poll() is not None, timeout=60)
    assert worker.process.poll() is None, worker.text
    return worker


def token_valid(data_dir: Path, message: str) -> bool:
    """Whether the code in the message is a stored, unused token (only its SHA-256 is stored)."""
    match = re.search(r"code in the app: (\S+)", message)
    assert match, message
    digest = hashlib.sha256(match.group(1).encode()).hexdigest()
    with sqlite3.connect(data_dir / "baas.sqlite3") as db:
        row = db.execute(
            "SELECT COUNT(*) FROM baas_auth_emailtoken WHERE token_hash = ? AND used_at IS NULL", (digest,)
        ).fetchone()
    return row[0] == 1


def test_an_acknowledged_email_survives_the_web_process_and_is_sent_by_a_worker_started_later(platform):
    sink = SmtpSink()
    try:
        env = environment(platform, sink)
        web, base = start_web(platform, env)
        status, session = http("POST", f"{base}/v1/auth/signup", body={"email": "a@example.com", "password": PASSWORD})
        assert status == 201
        assert http("POST", f"{base}/v1/auth/verify/request", token=session["access"], body={})[0] == 204
        assert http("POST", f"{base}/v1/auth/recover", body={"email": "a@example.com"})[0] == 204
        web.stop(signal.SIGKILL)  # a crash: nothing in the web process survives
        time.sleep(0.5)
        assert sink.messages == [], "no worker ran: nothing may have been sent yet"

        start_worker(platform, env)
        assert wait_until(lambda: len(sink.messages) == 2, timeout=60), sink.messages
        subjects = sorted(re.search(r"^Subject: (.*)$", m, re.M).group(1).strip() for m in sink.messages)
        assert subjects == ["Confirm your email address", "Reset your password"]
        assert all("To: a@example.com" in m for m in sink.messages)
        assert all(token_valid(platform["tmp"] / "data", m) for m in sink.messages)
    finally:
        sink.close()


def test_a_failing_mail_server_gets_the_email_after_retries(platform):
    sink = SmtpSink(fail_first=2)
    try:
        env = environment(platform, sink)
        start_worker(platform, env)
        _, base = start_web(platform, env)
        status, session = http("POST", f"{base}/v1/auth/signup", body={"email": "b@example.com", "password": PASSWORD})
        assert status == 201
        assert http("POST", f"{base}/v1/auth/verify/request", token=session["access"], body={})[0] == 204
        assert wait_until(lambda: len(sink.messages) == 1, timeout=60), (sink.attempts, sink.messages)
        assert sink.attempts == 3
        # Each attempt issued a fresh token: only the delivered one works.
        assert token_valid(platform["tmp"] / "data", sink.messages[0])
    finally:
        sink.close()
