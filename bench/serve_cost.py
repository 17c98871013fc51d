"""Instructions per request of a whole `baas serve` process: the one-port ASGI server against WSGI.

    .venv/bin/python bench/serve_cost.py [--interfaces asgi,wsgi] [--calls get,create,list,count]
                                         [--requests 200] [--threads 2]
                                         [--database-url postgres://…/baas_serve_cost]

bench/request_cost.py counts what Django and the lean front spend (a WSGI call in one thread);
this counts everything the server process spends per request, the HTTP server and the hand-off
between the event loop and the REST threads included: `baas serve --workers 1` runs under
callgrind (children traced: granian runs its worker in a process of its own), a client sends each
call's requests one after another on one keep-alive connection, and callgrind's counters are
zeroed before and dumped after each batch (`callgrind_control`). Instruction counts do not depend
on the machine's load, so the two servers compare to a fraction of a percent on a shared machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.common import free_port, process_tree  # noqa: E402
from bench.request_cost import BUCKETS, COUNT_QUERY, LIST_QUERY, SEEDED, prepare, seed, user_tokens  # noqa: E402
from bench.request_cost import wsgi_app as local_app  # noqa: E402

BAAS = str(Path(sys.executable).with_name("baas"))
CALLS = ("get", "create", "list", "count", "health")


def requests_of(name: str, count: int, offset: int) -> list[tuple[str, str, bytes | None]]:
    out: list[tuple[str, str, bytes | None]] = []
    for n in range(offset, offset + count):
        if name == "get":
            out.append(("GET", f"/v1/db/cost/d{n % SEEDED}", None))
        elif name == "list":
            out.append(("GET", "/v1/db/cost?" + LIST_QUERY.format(n % BUCKETS), None))
        elif name == "count":
            out.append(("GET", "/v1/db/cost/count?" + COUNT_QUERY.format(n % BUCKETS), None))
        elif name == "health":
            out.append(("GET", "/v1/health", None))
        else:
            body = json.dumps({"data": {"title": f"note {n}", "n": n % 1000, "tags": ["a", "b"]}}).encode()
            out.append(("POST", "/v1/db/cost", body))
    return out


def send_all(port: int, token: str, batch: list[tuple[str, str, bytes | None]]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for method, path, body in batch:
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        assert response.status in (200, 201), (response.status, data[:300])
    conn.close()


def callgrind(command: str, pids: list[int]) -> None:
    for pid in pids:
        subprocess.run(["callgrind_control", command, str(pid)], capture_output=True, check=False)


def totals_since(out: Path, before: set[Path]) -> int:
    total = 0
    for profile in set(out.glob("cg.*")) - before:
        match = re.search(r"^(?:summary|totals): (\d+)", profile.read_text(errors="replace"), re.MULTILINE)
        if match:
            total += int(match[1])
    return total


def measure(interface: str, names: list[str], count: int, threads: int, token: str, env: dict[str, str]) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"serve-cost-{interface}-"))
    port = free_port()
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={out}/cg.%p",
         BAAS, "serve", "--interface", interface, "--workers", "1", "--threads", str(threads), "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=open(out / "stderr", "w"),  # noqa: SIM115
    )  # fmt: skip
    figures = {}
    try:
        deadline = time.monotonic() + 1800  # valgrind starts Django slowly on a busy machine
        while True:
            try:
                send_all(port, token, [("GET", "/v1/health", None)])
                break
            except (OSError, AssertionError, http.client.HTTPException):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"{interface} server did not start; see {out}/stderr") from None
                time.sleep(1)
        for index, name in enumerate(names):
            send_all(port, token, requests_of(name, 30, 100_000 * (index + 1)))  # warm up
            pids = process_tree(server.pid)
            callgrind("-z", pids)
            before = set(out.glob("cg.*"))
            send_all(port, token, requests_of(name, count, 100_000 * (index + 1) + 50))
            callgrind("-d", pids)
            time.sleep(1)
            figures[name] = totals_since(out, before) / count
            print(f"  {interface} {name:7s} {figures[name] / 1e6:7.3f} M instructions per request", flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    print(f"  ({interface} profiles in {out})")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interfaces", default="asgi,wsgi")
    parser.add_argument("--calls", default="get,create,list,count")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/baas_serve_cost")
    args = parser.parse_args()
    names = args.calls.split(",")
    os.environ.setdefault("AUTH_ACCESS_TOKEN_SECONDS", str(24 * 3600))
    os.environ.setdefault("BAAS_DATA_DIR", tempfile.mkdtemp(prefix="serve-cost-data-"))
    key = prepare(args.database_url)
    app = local_app(args.database_url)
    seed(app, key)
    token, _ = user_tokens(app)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")},
        "DATABASE_URL": args.database_url,
        "LOG_LEVEL": "WARNING",
    }
    for interface in args.interfaces.split(","):
        measure(interface, names, args.requests, args.threads, token, env)


if __name__ == "__main__":
    main()
