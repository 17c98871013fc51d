"""`/v1/ready` follows the database and Redis: 503 while one is unreachable, 200 again after."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import free_port
from tests.platform.processes import baas, http, platform_env, wait_until
from tests.platform.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow


def test_ready_turns_503_while_postgres_or_redis_is_unreachable_and_recovers(tmp_path, postgres_url, redis_url):
    database, cache = TcpProxy(5432), TcpProxy(6379)
    database.start()
    cache.start()
    port = free_port()
    env = platform_env(
        uuid.uuid4().hex,
        BAAS_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{database.port}/postgres",
        REDIS_URL=f"redis://127.0.0.1:{cache.port}/15",
    )
    server = baas("serve", "--port", str(port), env=env)
    ready_url = f"http://127.0.0.1:{port}/v1/ready"
    try:
        assert wait_until(lambda: http("GET", ready_url)[0] == 200, timeout=30), server.text

        database.cut()
        status, body = http("GET", ready_url)
        assert status == 503
        assert body["error"]["code"] == "unavailable"
        assert body["error"]["details"]["checks"]["database"] != "ok"
        assert body["error"]["details"]["checks"]["redis"] == "ok"
        assert http("GET", f"http://127.0.0.1:{port}/v1/health")[0] == 200, "the process itself still runs"

        database.start()
        assert wait_until(lambda: http("GET", ready_url)[0] == 200, timeout=10)

        cache.cut()
        status, body = http("GET", ready_url)
        assert status == 503
        assert body["error"]["details"]["checks"] == {"database": "ok", "redis": "ConnectionError"}
        cache.start()
        assert wait_until(lambda: http("GET", ready_url)[0] == 200, timeout=10)
    finally:
        server.stop()
        database.cut()
        cache.cut()
