"""The server's own cost of one document request, in CPU time and in instructions.

    .venv/bin/python bench/request_cost.py [--calls get,create,list,count,user,refresh,upload,download]
                                           [--credential user] [--requests 2000] [--instructions]
                                           [--database-url postgres://…/baas_cost]

Runs requests through Django's WSGI handler in this one process and thread, with the environ a WSGI
server passes (so the middleware, URL routing, the lean bearer path and the database round trips
are all in), against PostgreSQL, and prints CPU time per request. The wrk figures of
bench/documents.py swing with the machine (two runs of the same code differed by a third here); CPU
time of a single thread swings less, and callgrind's instruction count (`--instructions`, which
runs itself under valgrind once and has callgrind dump its counters around each call's batch of
requests, so startup and warm-up are left out) does not swing at all: it compares two versions of
the code to a fraction of a percent. The CPU mode also reports the CPU time of the PostgreSQL
backend that served the requests.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.common import cpu_seconds, fresh_database  # noqa: E402
from bench.storage_cost import STORAGE_CALLS, seed_objects, storage_requests  # noqa: E402

BAAS = str(Path(sys.executable).with_name("baas"))
SEEDED = 2000
# An equality query on an indexed field that matches 20 rows, as bench/wrk/query.lua asks.
BUCKETS = SEEDED // 20
LIST_QUERY = "limit=20&filter=bucket%20%3D%3D%20{}"
COUNT_QUERY = "filter=bucket%20%3D%3D%20{}"
CALLS = ("get", "create", "list", "count", "user", "refresh", *STORAGE_CALLS)


def prepare(database_url: str) -> str:
    """A migrated database with a collection of SEEDED documents; returns a service key."""
    fresh_database(database_url)
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    subprocess.run([BAAS, "migrate", "--noinput"], env=env, check=True, capture_output=True)
    return subprocess.run(
        [BAAS, "keys", "create", "cost"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def environ(method: str, path: str, key: str, body: bytes = b"") -> dict[str, Any]:
    """What a WSGI server hands Django for one request (granian also copies the process env in)."""
    return {
        **os.environ,
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {key}",
        "CONTENT_TYPE": "application/json" if body else "",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call(app: Any, env: dict[str, Any]) -> int:
    return answer(app, env)[0]


def answer(app: Any, env: dict[str, Any]) -> tuple[int, bytes]:
    """Status and body of one request through the WSGI app."""
    status: list[str] = []
    chunks = app(env, lambda line, headers, exc_info=None: status.append(line))
    try:
        body = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return int(status[0].split()[0]), body


def requests_of(call_name: str, key: str, count: int) -> list[dict[str, Any]]:
    if call_name in STORAGE_CALLS:  # 4 KiB objects (bench/storage_cost.py)
        return storage_requests(call_name, environ, key, count)
    if call_name == "get":
        return [environ("GET", f"/v1/db/cost/d{i % SEEDED}", key) for i in range(count)]
    if call_name == "list":
        return [
            {**environ("GET", "/v1/db/cost", key), "QUERY_STRING": LIST_QUERY.format(i % BUCKETS)} for i in range(count)
        ]
    if call_name == "count":
        return [
            {**environ("GET", "/v1/db/cost/count", key), "QUERY_STRING": COUNT_QUERY.format(i % BUCKETS)}
            for i in range(count)
        ]
    if call_name == "user":
        return [environ("GET", "/v1/auth/user", key) for _ in range(count)]
    body = [
        json.dumps({"data": {"title": f"note {i}", "n": i % 1000, "tags": ["a", "b"]}}).encode() for i in range(count)
    ]
    return [environ("POST", "/v1/db/cost", key, b) for b in body]


def wsgi_app(database_url: str) -> Any:
    os.environ.update({"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "baas.settings"})
    from baas.wsgi import application  # what the servers run: Django behind the lean front

    return application


def seed(app: Any, key: str) -> None:
    """The collection and its SEEDED documents, through the API."""
    collection = json.dumps(
        {"name": "cost", "rules": {"read": "true", "create": "auth != null"}, "indexes": [{"fields": ["bucket"]}]}
    ).encode()
    assert call(app, environ("POST", "/v1/db/collections", key, collection)) == 201
    for i in range(SEEDED):
        body = json.dumps({"id": f"d{i}", "data": {"n": i, "bucket": i % BUCKETS, "title": f"doc {i}"}}).encode()
        assert call(app, environ("POST", "/v1/db/cost", key, body)) == 201
    seed_objects(lambda env: call(app, env), environ, key)


def backend_cpu_seconds() -> float:
    """CPU time of the PostgreSQL backend serving this thread's connection (same machine)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return cpu_seconds(pid)


_signups = iter(range(1_000_000))


def user_tokens(app: Any) -> tuple[str, str]:
    """A newly signed-up user's access token (valid as long as `main` sets) and refresh token."""
    email = f"cost{next(_signups)}@example.com"
    body = json.dumps({"email": email, "password": "a fine long bench passphrase"}).encode()
    env = environ("POST", "/v1/auth/signup", "", body)
    del env["HTTP_AUTHORIZATION"]
    status, body = answer(app, env)
    assert status == 201, body
    session = json.loads(body)
    return session["access"], session["refresh"]


_refresh_base: dict[str, Any] = {}


def refresh_environ(refresh: str) -> dict[str, Any]:
    """A refresh's environ. Built while the refreshes are measured (each needs the previous answer's
    token), so from a base made once: copying the process environment (as `environ` does, 40-odd
    variables through os.environ's decoding) was 0.31 M of the 1.96 M a refresh counted, and no other call
    counts its environ's making."""
    if not _refresh_base:
        _refresh_base.update(environ("POST", "/v1/auth/token/refresh", "", b"{}"))
        del _refresh_base["HTTP_AUTHORIZATION"]
    body = json.dumps({"refresh": refresh}).encode()
    return {**_refresh_base, "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}


def refreshes(app: Any, refresh: str, count: int) -> str:
    """`count` rotations of a session, each with the refresh token the previous one handed out;
    returns the last one. (Built on the fly: each request needs its predecessor's answer.)"""
    for _ in range(count):
        status, body = answer(app, refresh_environ(refresh))
        assert status == 200, body
        refresh = json.loads(body)["refresh"]
    return refresh


def run(
    app: Any, call_names: list[str], count: int, key: str, refresh: str | None = None
) -> dict[str, tuple[float, float]]:
    """Per call: this process's and the database backend's CPU milliseconds per request."""
    figures = {}
    for name in call_names:
        if name == "refresh":
            assert refresh is not None, "refresh needs --credential user"
            refresh = refreshes(app, refresh, 50)  # warm up; not counted
            database_before, started = backend_cpu_seconds(), phase_marker()
            refresh = refreshes(app, refresh, count)
            elapsed = phase_marker() - started
            figures[name] = (elapsed * 1000 / count, (backend_cpu_seconds() - database_before) * 1000 / count)
            continue
        for env in requests_of(name, key, 50):  # warm caches and connections; not counted
            call(app, env)
        batch = requests_of(name, key, count)
        database_before, started = backend_cpu_seconds(), phase_marker()
        for env in batch:
            status = call(app, env)
            assert status in (200, 201), status
        elapsed = phase_marker() - started
        database = backend_cpu_seconds() - database_before
        figures[name] = (elapsed * 1000 / count, database * 1000 / count)
    return figures


def phase_marker() -> float:
    """The process's CPU time, read after a call of getppid(): under valgrind, `instructions` has
    callgrind dump its counters right before each getppid (`--dump-before`), so every measured
    batch of requests gets a profile of its own, between two markers."""
    os.getppid()
    return time.process_time()


MARKER_FUNCTION = "os_getppid*"


def instructions(
    call_names: list[str], database_url: str, key: str, refresh: str | None, out_dir: str
) -> dict[str, float]:
    """Instructions per request of each call: one callgrind run of `run` with REQUESTS_UNDER_VALGRIND
    requests per call, each call's batch in a profile of its own (see `phase_marker`); the
    profiles stay in `out_dir` (callgrind_annotate reads them)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("callgrind.out*"):
        old.unlink()
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--dump-before={MARKER_FUNCTION}",
         f"--callgrind-out-file={out / 'callgrind.out'}", sys.executable, __file__,
         "--calls", ",".join(call_names), "--requests", str(REQUESTS_UNDER_VALGRIND),
         "--database-url", database_url, "--key", key, *(["--refresh", refresh] if refresh else [])],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    # Dumps: 1, 2 before the first call's batch and after it; 3, 4 for the second; and so on.
    figures = {}
    for index, name in enumerate(call_names):
        profile = out / f"callgrind.out.{2 * index + 2}"
        total = int(re.search(r"^summary: (\d+)", profile.read_text(), re.MULTILINE)[1])  # type: ignore[index]
        profile.rename(out / f"callgrind.{name}")
        figures[name] = total / REQUESTS_UNDER_VALGRIND
    return figures


REQUESTS_UNDER_VALGRIND = 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--calls", default="get,create", help=f"any of {', '.join(CALLS)} (user and refresh: --credential user)"
    )
    parser.add_argument("--credential", choices=["service-key", "user"], default="service-key")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/baas_cost")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    parser.add_argument("--profile-dir", help="with --instructions: keep each call's callgrind profile there")
    parser.add_argument("--key", help=argparse.SUPPRESS)  # set when this script runs itself under valgrind
    parser.add_argument("--refresh", help=argparse.SUPPRESS)  # likewise
    args = parser.parse_args()
    names = args.calls.split(",")
    unknown = set(names) - set(CALLS)
    if unknown:
        parser.error(f"unknown calls {sorted(unknown)}")
    if args.key:  # an inner run under valgrind: the database is ready
        run(wsgi_app(args.database_url), names, args.requests, args.key, args.refresh)
        return
    if {"user", "refresh"} & set(names) and args.credential != "user":
        parser.error("the user and refresh calls need --credential user")
    key = prepare(args.database_url)
    # Refreshes are limited per address and per session; the limiter's own work is still counted.
    for limit in ("REFRESH_IP", "REFRESH_ACCOUNT", "SIGNUP_IP"):
        os.environ[f"AUTH_RATE_{limit}"] = "1000000/s"
    # Under valgrind a run of several calls outlasts the default 15 minutes of an access token.
    os.environ.setdefault("AUTH_ACCESS_TOKEN_SECONDS", str(24 * 3600))
    # Object files in a scratch data folder (the inner run under valgrind inherits it).
    os.environ.setdefault("BAAS_DATA_DIR", tempfile.mkdtemp(prefix="request-cost-data-"))
    app = wsgi_app(args.database_url)
    seed(app, key)
    refresh = None
    if args.credential == "user":
        key, refresh = user_tokens(app)
    if args.instructions:
        out_dir = args.profile_dir or tempfile.mkdtemp(prefix="request-cost-")
        for name, per_request in instructions(names, args.database_url, key, refresh, out_dir).items():
            print(f"  {name:8s} {per_request / 1e6:7.3f} M instructions per request (server process only)")
        print(f"  (callgrind profiles in {out_dir})")
        return
    for name, (server_ms, database_ms) in run(app, names, args.requests, key, refresh).items():
        print(f"  {name:8s} CPU per request: server {server_ms:.3f} ms (one thread), database {database_ms:.3f} ms")


if __name__ == "__main__":
    main()
