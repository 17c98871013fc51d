"""Figures for `baas dev`: time to the first healthy answer (fresh and existing data folder) and
idle memory of all its processes.

    .venv/bin/python bench/dev_startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import free_port, healthy, tree_rss_kib

BAAS = str(Path(sys.executable).with_name("baas"))


def start(data_dir: str) -> tuple[subprocess.Popen[bytes], float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    began = time.perf_counter()
    process = subprocess.Popen(
        [BAAS, "dev", "--port", str(port), "--data-dir", data_dir],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1/health"
    while not healthy(url):
        if process.poll() is not None or time.perf_counter() - began > 120:
            raise SystemExit("baas dev did not become healthy")
        time.sleep(0.02)
    return process, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=10)
    args = parser.parse_args()
    fresh, warm, rss, stop = [], [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as data_dir:
            process, seconds = start(data_dir)
            fresh.append(seconds)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            process, seconds = start(data_dir)
            warm.append(seconds)
            time.sleep(args.idle_seconds)
            rss.append(tree_rss_kib(process.pid) / 1024)
            began = time.perf_counter()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            stop.append(time.perf_counter() - began)
    print(f"baas dev, {args.runs} runs (median, min-max)")
    for label, values, unit in (
        ("first healthy answer, fresh data folder", fresh, "s"),
        ("first healthy answer, existing data folder", warm, "s"),
        (f"idle RSS of all processes after {args.idle_seconds:.0f} s", rss, "MiB"),
        ("clean stop on SIGTERM", stop, "s"),
    ):
        print(f"  {label:48s} {statistics.median(values):7.2f} {unit}  ({min(values):.2f}-{max(values):.2f})")


if __name__ == "__main__":
    main()
