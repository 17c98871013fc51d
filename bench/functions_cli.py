"""The function author's loop, timed as they live it: every step is a `baas` process, as typed.

Starts `baas dev` on a fresh data folder and measures:
  init → a passing template test (`baas functions init` then `pytest` in the new folder: the
    test starts its own platform, as on a fresh clone),
  CLI deploy (process start to exit), and deploy → first result (`deploy` then `invoke`),
  `baas functions dev`: save → "deployed … version N" printed.
Run: .venv/bin/python bench/functions_cli.py [--n 5]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

BAAS = str(Path(sys.executable).with_name("baas"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Output:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)


def wait_for(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.01)


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.monotonic()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True, text=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-fncli-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL")}
    env["BAAS_CONFIG"] = str(work / "config.json")

    started = time.monotonic()
    subprocess.run([BAAS, "functions", "init", "hello"], env=env, cwd=work, check=True, capture_output=True)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        env=env,
        cwd=work / "hello",
        check=True,
        capture_output=True,
    )
    print(f"init → passing template test: {time.monotonic() - started:.1f} s")

    port = free_port()
    server = subprocess.Popen(
        [BAAS, "dev", "--port", str(port), "--data-dir", str(work / "data")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    out = Output(server)
    try:
        wait_for(lambda: "ready in" in out.text, 120)
        key = re.search(r"baas_sk_[A-Za-z0-9_-]{20,}", out.text).group(0)  # type: ignore[union-attr]
        env.update(BAAS_URL=f"http://127.0.0.1:{port}", BAAS_SERVICE_KEY=key)
        folder = work / "hello"
        deploys, firsts = [], []
        for _ in range(args.n):
            deploys.append(timed([BAAS, "functions", "deploy", str(folder)], env, work))
            started = time.monotonic()
            timed([BAAS, "functions", "deploy", str(folder)], env, work)
            timed([BAAS, "functions", "invoke", "hello", "--data", '{"name": "x"}'], env, work)
            firsts.append(time.monotonic() - started)
        print(f"CLI deploy (process): p50 {sorted(deploys)[len(deploys) // 2]:.2f} s, max {max(deploys):.2f} s")
        print(
            f"CLI deploy → first result (2 processes): p50 {sorted(firsts)[len(firsts) // 2]:.2f} s, "
            f"max {max(firsts):.2f} s"
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health") as answer:
            assert answer.status == 200

        dev = subprocess.Popen(
            [BAAS, "functions", "dev", str(folder)],
            env=env,
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        dev_out = Output(dev)
        try:
            wait_for(lambda: re.search(r"deployed hello version \d+", dev_out.text) is not None, 60)
            saves = []
            for index in range(args.n):
                count = len(re.findall(r"deployed hello version", dev_out.text))
                source = (folder / "main.py").read_text()
                saved = time.monotonic()
                (folder / "main.py").write_text(source + f"\n# edit {index}\n")
                wait_for(lambda c=count: len(re.findall(r"deployed hello version", dev_out.text)) > c, 30)
                saves.append(time.monotonic() - saved)
            print(f"dev save → redeployed: p50 {sorted(saves)[len(saves) // 2]:.2f} s, max {max(saves):.2f} s")
        finally:
            dev.send_signal(signal.SIGINT)
            dev.wait(10)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)


if __name__ == "__main__":
    main()
