"""Auth latency in-process (Django test client, no network): signup, token, refresh and an
authenticated request, p50/p99; plus the parts of one authenticated request (JWT check, session
query). Runs against a fresh SQLite database in a temporary folder, or DATABASE_URL if set.

    .venv/bin/python bench/auth_bench.py [--users 20] [--requests 500]

Takes well under a minute. Argon2 runs with the production parameters (printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
os.environ.setdefault("BAAS_DATA_DIR", tempfile.mkdtemp(prefix="baas-auth-bench-"))
os.environ.setdefault("LOG_LEVEL", "WARNING")
for _name in ("SIGNUP_IP", "SIGNUP_ACCOUNT", "TOKEN_IP", "TOKEN_ACCOUNT", "REFRESH_IP", "REFRESH_ACCOUNT"):
    os.environ.setdefault(f"AUTH_RATE_{_name}", "1000000/s")  # measure the work, not the limiter

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import get_hasher  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from auth import sessions, tokens  # noqa: E402

PASSWORD = "a fine long passphrase"


def measure(label: str, count: int, action: Callable[[int], None]) -> None:
    samples = []
    for index in range(count):
        started = time.perf_counter()
        action(index)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    rate = 1000 / statistics.fmean(samples)
    print(f"{label:<34} n={count:<5} p50={p50:8.3f} ms  p99={p99:8.3f} ms  ~{rate:8.0f}/s (one thread)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    hasher = get_hasher()  # the one new passwords get (auth/hashers.py)
    print(f"database: {connection.vendor}; cache: {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}")
    print(
        f"argon2id: time_cost={hasher.time_cost} memory_cost={hasher.memory_cost} KiB "
        f"parallelism={hasher.parallelism}; cpus={os.cpu_count()}"
    )
    client = Client()
    run = int(time.time())
    sessions_made: list[dict] = []

    def signup(index: int) -> None:
        response = client.post(
            "/v1/auth/signup",
            {"email": f"bench{run}-{index}@example.com", "password": PASSWORD},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        sessions_made.append(response.json())

    def login(index: int) -> None:
        response = client.post(
            "/v1/auth/token",
            {"email": f"bench{run}-{index % args.users}@example.com", "password": PASSWORD},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content

    refresh_token = [""]

    def refresh(index: int) -> None:
        response = client.post("/v1/auth/token/refresh", {"refresh": refresh_token[0]}, content_type="application/json")
        assert response.status_code == 200, response.content
        refresh_token[0] = response.json()["refresh"]

    measure("POST /v1/auth/signup", args.users, signup)
    measure("POST /v1/auth/token", args.users, login)
    refresh_token[0] = sessions_made[0]["refresh"]
    measure("POST /v1/auth/token/refresh", args.requests, refresh)

    access = client.post(
        "/v1/auth/token",
        {"email": f"bench{run}-1@example.com", "password": PASSWORD},
        content_type="application/json",
    ).json()["access"]
    header = {"HTTP_AUTHORIZATION": f"Bearer {access}"}

    def get_user(index: int) -> None:
        response = client.get("/v1/auth/user", **header)
        assert response.status_code == 200

    def anonymous_health(index: int) -> None:
        client.get("/v1/health")

    measure("GET /v1/auth/user (access JWT)", args.requests, get_user)
    measure("GET /v1/health (no auth, baseline)", args.requests, anonymous_health)
    measure("  JWT signature+claims check only", args.requests * 4, lambda i: tokens.decode_access(access))
    measure(
        "  JWT check + session/user query",
        args.requests,
        lambda i: sessions.authenticate_access_token(access),
    )


if __name__ == "__main__":
    main()
