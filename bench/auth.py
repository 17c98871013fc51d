"""Auth figures against a live server on PostgreSQL (wrk, 16 connections):
logins/s and p99 (argon2 dominates: its parameters are printed), authenticated
`GET /v1/auth/user` req/s and p99, and `POST /v1/auth/token/refresh` with rotation (16 sessions,
one per wrk connection, each request sending the refresh token its session's previous answer
handed out: bench/wrk/refresh.lua). Rate limits are raised so that the work, not the limiter, is
measured. For the per-request cost of token verification in-process, see bench/auth_bench.py.

    .venv/bin/python bench/auth.py [--seconds 15] [--interface asgi|wsgi] [--workers 2] [--threads 2] [--warmup 2]
                                   [--database-url postgres://…/baas_bench_auth] [--redis-url redis://127.0.0.1:6379/N]

The server is what users run (`baas serve`, one port) unless --interface wsgi; 2 workers x 2
threads, as bench/documents.py, so `GET /v1/auth/user` and the refresh compare with its document get.

Without --redis-url the server keeps its counters (rate limits) in each process's memory, as the
embedded default does; with it, in Redis, as production does (the db is not cleared: the bench's
keys carry a prefix of their own and expire).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baas_client import create_client

from bench.common import fresh_database, wait_healthy
from bench.documents import BAAS, run, wrk

PASSWORD = "a fine long passphrase"


WRK_CONNECTIONS, WRK_THREADS = 16, 2  # bench.documents.wrk: -t2 -c16


def sign_in(base: str) -> str:
    """A new session of the bench user; its first refresh token."""
    body = json.dumps({"email": "bench@example.com", "password": PASSWORD}).encode()
    request = urllib.request.Request(
        f"{base}/v1/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["refresh"]


def _with_sessions(script: str, base: str, wrk_env: dict[str, str]) -> dict[str, str]:
    """For the refreshes, sessions signed in now, one per connection (each run spends its tokens)."""
    if script != "refresh.lua":
        return wrk_env
    return {**wrk_env, "BAAS_REFRESH_TOKENS": ",".join(sign_in(base) for _ in range(WRK_CONNECTIONS + WRK_THREADS))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--interface", choices=["asgi", "wsgi"], default="asgi")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2, help="seconds of the same load before each measured run")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/baas_bench_auth")
    parser.add_argument("--redis-url", help="the cache (rate limits) and channel layer in this Redis db")
    args = parser.parse_args()
    fresh_database(args.database_url)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")},
        "DATABASE_URL": args.database_url,
        "BAAS_DATA_DIR": tempfile.mkdtemp(prefix="baas-bench-auth-"),
        "LOG_LEVEL": "WARNING",
    }
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
        env["CACHE_KEY_PREFIX"] = env["CHANNEL_PREFIX"] = f"bench-auth-{os.getpid()}"
    for limit in ("TOKEN_IP", "TOKEN_ACCOUNT", "SIGNUP_IP", "REFRESH_IP", "REFRESH_ACCOUNT"):
        env[f"AUTH_RATE_{limit}"] = "1000000/s"
    env["AUTH_LOCKOUT_ADDRESS_THRESHOLD"] = env["AUTH_LOCKOUT_ACCOUNT_THRESHOLD"] = "1000000"
    run([BAAS, "migrate", "--noinput"], env)
    port = 18500 + os.getpid() % 400
    server = subprocess.Popen(
        [BAAS, "serve", "--interface", args.interface, "--workers", str(args.workers), "--threads", str(args.threads),
         "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(f"{base}/v1/health")
        with create_client(base) as client:  # the Python SDK signs up the user whose token wrk sends
            access = client.auth.sign_up(email="bench@example.com", password=PASSWORD).access
        print(
            f"server: baas serve --interface {args.interface}, {args.workers} processes x {args.threads} threads, "
            "PostgreSQL 15, "
            f"{'Redis' if args.redis_url else 'in-process'} cache; "
            f"wrk 2 threads, 16 connections, {args.seconds} s; argon2id with the defaults of auth/hashers.py "
            "(t=2, m=19 MiB, p=1)"
        )
        wrk_env = {**os.environ, "BAAS_EMAIL": "bench@example.com", "BAAS_PASSWORD": PASSWORD, "BAAS_TOKEN": access}
        for label, script in (
            ("login (POST /v1/auth/token)", "login.lua"),
            ("GET /v1/auth/user", "me.lua"),
            ("refresh (POST /v1/auth/token/refresh)", "refresh.lua"),
        ):
            if args.warmup:  # not measured: the fresh server's first requests, and what the run before left queued
                wrk(script, base, _with_sessions(script, base, wrk_env), args.warmup)
            result = wrk(script, base, _with_sessions(script, base, wrk_env), args.seconds)
            print(
                f"  {label:38s} {result['rps']:8.0f} req/s   p50 {result['p50']:7.2f} ms   "
                f"p99 {result['p99']:7.2f} ms   errors {result['errors']}"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
