"""`baas dev`: the whole platform on the embedded default, in one command.

Creates the data folder, migrates, prints the first service key on first run, then supervises
three processes — the web server (HTTP + websockets), a Celery worker and the scheduler — until
Ctrl-C or SIGTERM stops them all.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from baas.supervisor import Child, Supervisor


class Command(BaseCommand):
    help = "Run the whole platform locally with no external service."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--data-dir", help="Where data lives (default ./.baas); applied by the baas command.")
        parser.add_argument(
            "--unsafe-local-functions",
            action="store_true",
            help="Run functions WITHOUT a sandbox (BAAS_SANDBOX=unsafe-local), for a laptop without bubblewrap. "
            "Loopback only; refused in production.",
        )

    def handle(self, *args: Any, host: str, port: int, unsafe_local_functions: bool = False, **_: Any) -> None:
        started = time.monotonic()
        if unsafe_local_functions:
            os.environ["BAAS_SANDBOX"] = settings.BAAS_SANDBOX = "unsafe-local"  # this process and its children
        self._report_sandbox(host)
        data_dir = settings.BAAS_DATA_DIR
        data_dir.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("keys", "bootstrap", stdout=self.stdout)

        env = {**os.environ, "BAAS_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "baas.settings"}
        baas = [sys.executable, "-m", "baas.cli"]
        supervisor = Supervisor(
            [
                Child("web", [*baas, "serve", "--host", host, "--port", str(port), "--workers", "1"]),
                # Threads: one process for every task in dev; function sandboxes are subprocesses anyway.
                Child("worker", [*baas, "worker", "--pool", "threads", "--concurrency", "4"]),
                Child("beat", [*baas, "beat"]),
            ],
            env=env,
        )
        signal.signal(signal.SIGINT, supervisor.request_stop)
        signal.signal(signal.SIGTERM, supervisor.request_stop)
        supervisor.start()

        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        self.stdout.write(
            f"\nbaas dev — data in {data_dir}\n"
            f"  Console   {base}/console/\n"
            f"  API       {base}/v1/\n"
            f"  Docs      {base}/v1/docs\n"
            f"  Health    {base}/v1/health\n"
            f"  Realtime  {base.replace('http', 'ws', 1)}/v1/realtime\n"
            "Press Ctrl-C to stop.\n"
        )
        self.stdout.flush()
        if _wait_healthy(f"{base}/v1/health", supervisor):
            self.stdout.write(f"ready in {time.monotonic() - started:.1f} s\n")
            self.stdout.flush()
        code = supervisor.wait()
        self.stdout.write("stopped\n")
        if code:
            sys.exit(code)

    def _report_sandbox(self, host: str) -> None:
        """Before anything else: which sandbox functions will run in (or why they will not run)."""
        from functions import sandbox

        sandbox.refuse_unsafe_local_on(host)
        state = sandbox.reprobe()
        if state == sandbox.BUBBLEWRAP:
            self.stdout.write(f"functions sandbox: bubblewrap ({sandbox.describe()})\n")
        elif state == sandbox.UNSAFE_LOCAL:
            self.stdout.write(
                "functions sandbox: UNSAFE-LOCAL — functions run WITHOUT isolation, as your own user, and can read "
                "and change your files. For a laptop only; install bubblewrap for real isolation.\n"
            )
        else:
            why = sandbox.unavailable_message(sandbox.problem())
            self.stdout.write(f"functions sandbox: UNAVAILABLE — functions will not run.\n{why}\n")
        self.stdout.flush()


def _wait_healthy(url: str, supervisor: Supervisor, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not supervisor._stopping:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False
