"""Functions latency: cold start and warm invocation through HTTP invoke, beside bare Python.

Starts `baas serve` and `baas worker --pool threads` (default worker settings) on a fresh data
folder, deploys a trivial function and measures, in the same run:
  python3 -c pass (plain and inside bubblewrap as the sandbox uid),
  cold: deploy → first invocation result (N fresh functions), with its hops: the deploy request,
    the invoke request, and within that the queue delay and the run as the invocation records them,
  the same through the CLI (`baas functions deploy DIR`, then `baas functions invoke NAME`),
  warm: HTTP invoke round trips p50/p99, and invocations/s with 8 concurrent clients.
Run: .venv/bin/python bench/functions.py [--n 200] [--database-url postgres://…] [--broker-url redis://…]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baas_client import Client, create_client

from bench.common import cpu_seconds, wait_healthy

BAAS = str(Path(sys.executable).with_name("baas"))
FUNCTION = "from baas_runtime import on_http\n\n@on_http\ndef ping(event, ctx):\n    return event['payload']\n"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def show(label: str, values: list[float]) -> None:
    print(f"{label:<46} p50 {pct(values, 0.5):7.1f} ms   p99 {pct(values, 0.99):7.1f} ms   (n={len(values)})")


def timed(argv: list[str], n: int, **kwargs) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        started = time.perf_counter()
        subprocess.run(argv, check=True, **kwargs)
        out.append((time.perf_counter() - started) * 1000)
    return out


def call(client: Client, method: str, path: str, body: object = None) -> dict:
    """One REST call through the Python SDK (its client is thread-safe: the pool below shares it)."""
    return client.request(method, path, json_body=body)


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU of a process and its live descendants (Linux /proc), the children of every
    thread (sandboxes are started by a thread of their own)."""
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        total += cpu_seconds(pid)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                pending += [int(child) for child in children.read_text().split()]
            except OSError:
                continue
    return total


def cli_deploy_to_result(data: Path, env: dict[str, str], url: str, key: str, n: int) -> dict[str, list[float]]:
    """`baas functions deploy DIR` then `baas functions invoke NAME`, as a user types them: each a
    new CLI process (its start included), each on a fresh function."""
    found: dict[str, list[float]] = {
        "CLI: deploy → first result": [],
        "  CLI: deploy": [],
        "  CLI: invoke": [],
        "  CLI: its two processes' CPU (user + system)": [],
    }
    server = ["--url", url, "--key", key]
    for index in range(n):
        folder = data / f"cli{index}"
        folder.mkdir()
        (folder / "main.py").write_text(FUNCTION)
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([BAAS, "functions", "deploy", str(folder), *server], env=env, check=True, capture_output=True)
        deployed = time.perf_counter()
        answer = subprocess.run(
            [BAAS, "functions", "invoke", f"cli{index}", "--data", str(index), *server],
            env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        assert str(index) in answer.stdout, answer.stdout
        finished = time.perf_counter()
        found["CLI: deploy → first result"].append((finished - started) * 1000)
        found["  CLI: deploy"].append((deployed - started) * 1000)
        found["  CLI: invoke"].append((finished - deployed) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        found["  CLI: its two processes' CPU (user + system)"].append(
            (after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime) * 1000
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--cold", type=int, default=20)
    parser.add_argument("--cli", type=int, default=5, help="deploy → first result through the `baas functions` CLI")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: the embedded SQLite)")
    parser.add_argument("--broker-url", help="e.g. redis://127.0.0.1:6379/5 (default: the embedded queue)")
    args = parser.parse_args()

    bwrap = [
        "/usr/bin/bwrap",
        "--unshare-all",
        "--unshare-user",
        "--die-with-parent",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--symlink",
        "usr/bin",
        "/bin",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
    ]
    plain = timed(["/usr/bin/python3", "-c", "pass"], 20)
    boxed = timed([*bwrap, "/usr/bin/python3", "-c", "pass"], 20, user=65534, group=65534, extra_groups=[])

    data = Path(tempfile.mkdtemp(prefix="baas-bench-functions-"))
    env = {**os.environ, "BAAS_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "baas.settings"}
    env.pop("DATABASE_URL", None)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.broker_url:
        env["CELERY_BROKER_URL"] = env["REDIS_URL"] = args.broker_url
    subprocess.run([BAAS, "migrate", "-v", "0"], env=env, check=True)
    key = (
        subprocess.run([BAAS, "keys", "create", "bench"], env=env, check=True, capture_output=True, text=True)
        .stdout.strip()
        .split()[-1]
    )
    port = 8765
    url = f"http://127.0.0.1:{port}"
    log = open(data / "processes.log", "w")  # noqa: SIM115
    procs = [
        subprocess.Popen([BAAS, "serve", "--port", str(port)], env=env, stdout=log, stderr=log),
        subprocess.Popen([BAAS, "worker", "--pool", "threads", "--concurrency", "4"], env=env, stdout=log, stderr=log),
    ]
    try:
        wait_healthy(url + "/v1/health")
        time.sleep(1.5)  # the worker's consumer
        client = create_client(url, service_key=key)
        cold: list[float] = []
        hops: dict[str, list[float]] = {"deploy request": [], "invoke request": [], "queue": [], "run": []}
        for index in range(args.cold):
            started = time.perf_counter()
            call(client, "POST", "/v1/functions", {"name": f"cold{index}", "files": {"main.py": FUNCTION}})
            deployed = time.perf_counter()
            body = call(client, "POST", f"/v1/functions/cold{index}/invoke", {"payload": index})
            assert body["result"] == index, body
            cold.append((time.perf_counter() - started) * 1000)
            hops["deploy request"].append((deployed - started) * 1000)
            hops["invoke request"].append((time.perf_counter() - deployed) * 1000)
            hops["queue"].append(body["invocation"]["queue_delay_ms"])  # call received → run claimed
            hops["run"].append(body["invocation"]["duration_ms"])  # claimed → finished (sandbox included)
        cli = cli_deploy_to_result(data, env, url, key, args.cli)
        call(client, "POST", "/v1/functions", {"name": "warm", "files": {"main.py": FUNCTION}})
        for _ in range(10):
            call(client, "POST", "/v1/functions/warm/invoke", {"payload": 1})
        warm = []
        cpu_before = sum(tree_cpu_seconds(proc.pid) for proc in procs)
        for index in range(args.n):
            started = time.perf_counter()
            call(client, "POST", "/v1/functions/warm/invoke", {"payload": index})
            warm.append((time.perf_counter() - started) * 1000)
        warm_cpu = (sum(tree_cpu_seconds(proc.pid) for proc in procs) - cpu_before) * 1000 / args.n
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: call(client, "POST", "/v1/functions/warm/invoke", {"payload": i}), range(args.n)))
        rate = args.n / (time.perf_counter() - started)
        client.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    show("python3 -c pass", plain)
    show("bwrap (uid 65534) python3 -c pass", boxed)
    show("cold: deploy → first result (HTTP)", cold)
    for hop, values in hops.items():
        show(f"  cold hop: {hop}", values)
    for label, values in cli.items():
        show(label, values)
    show("warm: HTTP invoke round trip", warm)
    print(f"{'  server + worker CPU per warm invoke':<46} {warm_cpu:7.2f} ms (sandboxes included)")
    print(f"{'throughput, 8 clients, default worker settings':<46} {rate:7.1f} invocations/s")


if __name__ == "__main__":
    main()
