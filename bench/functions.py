"""Functions latency: cold start and warm invocation through HTTP invoke, beside bare Python.

Starts `baas serve` and `baas worker --pool threads` (default worker settings) on a fresh data
folder, deploys a trivial function and measures, in the same run:
  python3 -c pass (plain and inside bubblewrap as the sandbox uid),
  cold: deploy → first invocation result (N fresh functions), with its hops: the deploy request,
    the invoke request, and within that the queue delay and the run as the invocation records them,
  the same through the CLI (`baas functions deploy DIR`, then `baas functions invoke NAME`, each a
    new process), with the CPU of those two CLI processes,
  warm: HTTP invoke round trips p50/p99, the server's and the worker's CPU per invoke (their process
    trees: sandboxes included), and invocations/s with 8 concurrent clients,
  RSS of each warm sandbox process (the runtime's /proc/<pid>/status, read from outside),
for each runtime asked: Python (main.py) and Deno (main.ts; its deploy includes `deno check`).
Embedded SQLite and queue by default; --database-url and --broker-url run it on PostgreSQL + Redis.
--deps N adds deploy → first result of a TypeScript function with one npm dependency (from a registry
the bench serves on loopback) against the same without, with the server's CPU per deploy.
Run: .venv/bin/python bench/functions.py [--n 200] [--cold 20] [--cli 5] [--runtime python|deno|both]
                                         [--database-url postgres://…] [--broker-url redis://…] [--deps N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baas_client import Client, create_client

from bench.common import cpu_seconds, process_tree, wait_healthy

BAAS = str(Path(sys.executable).with_name("baas"))
FUNCTION = "from baas_runtime import on_http\n\n@on_http\ndef ping(event, ctx):\n    return event['payload']\n"
FUNCTION_TS = 'import { onHttp } from "baas";\n\nexport const ping = onHttp((event) => event.payload);\n'
FILES = {"python": {"main.py": FUNCTION}, "deno": {"main.ts": FUNCTION_TS}}
# A function folder for `baas functions deploy DIR`: the same function, and for Deno the manifest a
# TypeScript folder carries (`baas functions init NAME --lang ts` writes one, with another handler).
FOLDERS = {**FILES, "deno": {**FILES["deno"], "baas.json": json.dumps({"entry": "main.ts", "runtime": "deno"})}}
# The project's packages a `baas functions` process imports (compiled before the run, see main()).
PYC_PACKAGES = ("baas", "functions", "baas_runtime", "sdk/python/baas_client")
# How each runtime's sandbox process shows in /proc/<pid>/cmdline.
RUNTIME_MARKS = {"python": b"baas_runtime._sandbox", "deno": b"runtime.ts"}


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


@dataclass
class Platform:
    """The running `baas serve` and `baas worker`, and what a CLI process needs to reach them."""

    client: Client
    url: str
    key: str
    env: dict[str, str]
    data: Path
    server: int
    worker: int


def call(client: Client, method: str, path: str, body: object = None) -> dict:
    """One REST call through the Python SDK (its client is thread-safe: the pool below shares it)."""
    return client.request(method, path, json_body=body)


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU of a process and its live descendants (sandboxes included)."""
    return sum(map(cpu_seconds, process_tree(root)))


def cli_deploy_to_result(platform: Platform, runtime: str, n: int) -> dict[str, list[float]]:
    """`baas functions deploy DIR` then `baas functions invoke NAME`, as a user types them: each a
    new CLI process (its start included), each on a fresh function."""
    found: dict[str, list[float]] = {
        "CLI: deploy → first result": [],
        "  CLI: deploy": [],
        "  CLI: invoke": [],
        "  CLI: its two processes' CPU (user + system)": [],
    }
    server = ["--url", platform.url, "--key", platform.key]
    for index in range(n):
        name = f"cli-{runtime}{index}"
        folder = platform.data / name
        folder.mkdir()
        for relative, text in FOLDERS[runtime].items():
            (folder / relative).write_text(text)
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)  # the CLI processes, once waited for
        started = time.perf_counter()
        deploy = [BAAS, "functions", "deploy", str(folder), *server]
        subprocess.run(deploy, env=platform.env, check=True, capture_output=True)
        deployed = time.perf_counter()
        invoke = [BAAS, "functions", "invoke", name, "--data", str(index), *server]
        answer = subprocess.run(invoke, env=platform.env, check=True, capture_output=True, text=True)
        finished = time.perf_counter()
        assert answer.stdout.strip() == str(index), answer.stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        found["CLI: deploy → first result"].append((finished - started) * 1000)
        found["  CLI: deploy"].append((deployed - started) * 1000)
        found["  CLI: invoke"].append((finished - deployed) * 1000)
        found["  CLI: its two processes' CPU (user + system)"].append(
            (after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime) * 1000
        )
    return found


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def sandbox_rss_mib(runtime: str, worker: int) -> list[tuple[float, float, float, int]]:
    """(RSS, private RSS, PSS in MiB, threads) of every live sandbox runtime process of `runtime`
    under the `worker` process. Private = RssAnon: the rest is file-backed, mostly the interpreter's
    or Deno's binary (~30 MiB of Deno's ~43), whose pages every such process on the machine shares.
    PSS (smaps_rollup) charges each process its share of those: what one more warm process costs."""
    sizes = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
            program = os.path.basename(cmdline.split(b"\0", 1)[0])
            if RUNTIME_MARKS[runtime] not in cmdline or program in (b"bwrap", b"sh"):
                continue  # bwrap and the cgroup wrapper carry the runtime's command line too
            ancestor = int(entry.name)
            for _ in range(6):  # runtime → bwrap's init → bwrap (→ sh, the cgroup wrapper) → worker
                ancestor = parent_of(ancestor)
                if ancestor in (worker, 0, 1):
                    break
            if ancestor != worker:
                continue
            status = Path(entry.path, "status").read_text()
            rollup = Path(entry.path, "smaps_rollup").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in (status + rollup).splitlines() if ":" in line)
        if {"VmRSS", "RssAnon", "Pss", "Threads"} <= fields.keys():
            kib = [int(fields[name].split()[0]) for name in ("VmRSS", "RssAnon", "Pss")]
            sizes.append((kib[0] / 1024, kib[1] / 1024, kib[2] / 1024, int(fields["Threads"])))
    return sizes


def measure(platform: Platform, runtime: str, args: argparse.Namespace) -> None:
    client, files = platform.client, FILES[runtime]
    cold: list[float] = []
    hops: dict[str, list[float]] = {"deploy request": [], "invoke request": [], "queue": [], "run": []}
    for index in range(args.cold):
        started = time.perf_counter()
        call(client, "POST", "/v1/functions", {"name": f"cold-{runtime}{index}", "files": files})
        deployed = time.perf_counter()
        body = call(client, "POST", f"/v1/functions/cold-{runtime}{index}/invoke", {"payload": index})
        assert body["result"] == index, body
        cold.append((time.perf_counter() - started) * 1000)
        hops["deploy request"].append((deployed - started) * 1000)
        hops["invoke request"].append((time.perf_counter() - deployed) * 1000)
        hops["queue"].append(body["invocation"]["queue_delay_ms"])  # call received → run claimed
        hops["run"].append(body["invocation"]["duration_ms"])  # claimed → finished (sandbox included)
    cli = cli_deploy_to_result(platform, runtime, args.cli)
    name = f"warm-{runtime}"
    call(client, "POST", "/v1/functions", {"name": name, "files": files})
    for _ in range(10):
        call(client, "POST", f"/v1/functions/{name}/invoke", {"payload": 1})
    warm = []
    servers = (platform.server, platform.worker)
    cpu_before = sum(map(tree_cpu_seconds, servers))
    for index in range(args.n):
        started = time.perf_counter()
        call(client, "POST", f"/v1/functions/{name}/invoke", {"payload": index})
        warm.append((time.perf_counter() - started) * 1000)
    warm_cpu = (sum(map(tree_cpu_seconds, servers)) - cpu_before) * 1000 / args.n
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: call(client, "POST", f"/v1/functions/{name}/invoke", {"payload": i}), range(args.n)))
    rate = args.n / (time.perf_counter() - started)
    rss = sandbox_rss_mib(runtime, platform.worker)
    print(f"--- {runtime} ---")
    show("cold: deploy → first result (HTTP)", cold)
    for hop, values in hops.items():
        show(f"  cold hop: {hop}", values)
    for label, values in cli.items():
        show(label, values)
    show("warm: HTTP invoke round trip", warm)
    print(f"{'  server + worker CPU per warm invoke':<46} {warm_cpu:7.2f} ms (sandboxes included)")
    print(f"{'throughput, 8 clients, default worker settings':<46} {rate:7.1f} invocations/s")
    if rss:
        total, private, shared = [row[0] for row in rss], [row[1] for row in rss], [row[2] for row in rss]
        label = "RSS per warm sandbox process"
        print(f"{label:<46} p50 {pct(total, 0.5):7.1f} MiB  max {max(total):7.1f} MiB  (n={len(rss)})")
        label = "  of which private (RssAnon)"
        print(f"{label:<46} p50 {pct(private, 0.5):7.1f} MiB  max {max(private):7.1f} MiB")
        label = "  PSS (shared pages split among processes)"
        print(f"{label:<46} p50 {pct(shared, 0.5):7.1f} MiB  max {max(shared):7.1f} MiB")
        label = "  threads"
        print(f"{label:<46} p50 {pct([row[3] for row in rss], 0.5):7d}      max {max(row[3] for row in rss):7d}")


# --deps: a TypeScript function with one small npm dependency, from an npm-compatible registry the
# bench serves on loopback itself (a packument and a .tgz it builds), against the same without.
FUNCTION_DEPS_TS = (
    'import { onHttp } from "baas";\nimport { pad } from "npm:bench-pad@1";\n\n'
    "export const ping = onHttp((event) => pad(event.payload));\n"
)


def start_registry() -> tuple[str, list[str]]:
    """A one-package npm registry on 127.0.0.1 (in a thread); returns its URL and its request log."""
    import base64
    import hashlib
    import io
    import tarfile
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    files = {
        "package.json": json.dumps({"name": "bench-pad", "version": "1.0.0", "type": "module", "main": "index.js"}),
        "index.js": "export function pad(value) { return value; }\n",
        "index.d.ts": "export declare function pad<T>(value: T): T;\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in files.items():
            info = tarfile.TarInfo(f"package/{path}")
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    tarball, requests = buffer.getvalue(), []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            requests.append(self.path)
            if self.path == "/bench-pad":
                dist = {
                    "tarball": f"{url}bench-pad/-/bench-pad-1.0.0.tgz",
                    "shasum": hashlib.sha1(tarball).hexdigest(),
                    "integrity": "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode(),
                }
                version = {"name": "bench-pad", "version": "1.0.0", "dist": dist}
                packument = {"name": "bench-pad", "dist-tags": {"latest": "1.0.0"}, "versions": {"1.0.0": version}}
                body, status = json.dumps(packument).encode(), 200
            elif self.path == "/bench-pad/-/bench-pad-1.0.0.tgz":
                body, status = tarball, 200
            else:
                body, status = b"{}", 404
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return url, requests


def server_cpu_seconds(root: int) -> float:
    """CPU of the server's process tree, with the children each has waited for (a deploy's
    sandboxes, gone by the time the deploy answers)."""
    return sum(cpu_seconds(pid, waited_children=True) for pid in process_tree(root))


def measure_deps(platform: Platform, n: int) -> None:
    """Deploy → first result of a TypeScript function with one npm dependency vs without."""
    print("--- deno: dependencies (a loopback npm registry) ---")
    for label, source in (("no dependencies", FUNCTION_TS), ("one npm dependency", FUNCTION_DEPS_TS)):
        total, deploys, cpu = [], [], []
        for index in range(n):
            name = f"deps-{'with' if 'npm:' in source else 'without'}{index}"
            started, cpu_before = time.perf_counter(), server_cpu_seconds(platform.server)
            # a comment makes each bundle new: no folder or cache of an earlier one is reused
            files = {"main.ts": source + f"// {index}\n"}
            call(platform.client, "POST", "/v1/functions", {"name": name, "files": files})
            deployed = time.perf_counter()
            cpu.append((server_cpu_seconds(platform.server) - cpu_before) * 1000)
            body = call(platform.client, "POST", f"/v1/functions/{name}/invoke", {"payload": index})
            assert body["result"] == index, body
            total.append((time.perf_counter() - started) * 1000)
            deploys.append((deployed - started) * 1000)
        show(f"{label}: deploy → first result", total)
        show("  deploy request", deploys)
        show("  server CPU per deploy (sandboxes incl.)", cpu)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--cold", type=int, default=20)
    parser.add_argument("--cli", type=int, default=5, help="deploy → first result through the `baas functions` CLI")
    parser.add_argument("--runtime", choices=["python", "deno", "both"], default="both")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: the embedded SQLite)")
    parser.add_argument("--broker-url", help="e.g. redis://127.0.0.1:6379/5 (default: the embedded queue)")
    parser.add_argument(
        "--deps", type=int, default=0, help="N deploys of a TypeScript function with an npm dependency, and without"
    )
    args = parser.parse_args()
    runtimes = ["python", "deno"] if args.runtime == "both" else [args.runtime]

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

    # The CLI as installed: pip writes .pyc files at install time, a checkout run with
    # PYTHONDONTWRITEBYTECODE (as these sessions are) would compile every project module on each
    # `baas functions` start (~170 M instructions, a quarter of its start-up) without this.
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(root / p) for p in PYC_PACKAGES)], check=True)

    data = Path(tempfile.mkdtemp(prefix="baas-bench-functions-"))
    env = {**os.environ, "BAAS_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "baas.settings"}
    env.pop("DATABASE_URL", None)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.broker_url:
        env["CELERY_BROKER_URL"] = env["REDIS_URL"] = args.broker_url
    if args.deps:
        registry, _requests = start_registry()
        env["FUNCTIONS_PACKAGE_REGISTRIES"] = registry
    subprocess.run([BAAS, "migrate", "-v", "0"], env=env, check=True)
    key = (
        subprocess.run([BAAS, "keys", "create", "bench"], env=env, check=True, capture_output=True, text=True)
        .stdout.strip()
        .split()[-1]
    )
    with socket.socket() as probe:  # a free port: other runs may share this machine
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
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
        platform = Platform(client, url, key, env, data, procs[0].pid, procs[1].pid)
        show("python3 -c pass", plain)
        show("bwrap (uid 65534) python3 -c pass", boxed)
        print(f"load average at start: {os.getloadavg()[0]:.1f}")
        for runtime in runtimes:
            measure(platform, runtime, args)
        if args.deps:
            measure_deps(platform, args.deps)
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        client.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
