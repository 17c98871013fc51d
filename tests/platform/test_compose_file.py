"""docker-compose.yml describes the production topology and is accepted by Compose."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import service_missing

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_it_runs_every_part_of_the_platform(compose):
    assert {"web", "worker", "beat", "postgres", "redis", "s3", "proxy"} <= set(compose["services"])


def test_web_and_worker_can_be_scaled(compose):
    for name in ("web", "worker"):
        service = compose["services"][name]
        assert "container_name" not in service
        assert "ports" not in service, f"{name} publishes no host port, so several can run"
    assert compose["services"]["proxy"]["ports"], "clients reach the platform through the proxy"


def test_long_running_services_have_health_checks(compose):
    for name in ("web", "worker", "postgres", "redis", "s3", "proxy"):
        assert compose["services"][name]["healthcheck"]["test"], name


def test_stateful_services_keep_their_data_in_volumes(compose):
    for name, volume in (("postgres", "pgdata"), ("redis", "redisdata"), ("s3", "s3data")):
        assert any(str(mount).startswith(f"{volume}:") for mount in compose["services"][name]["volumes"])
        assert volume in compose["volumes"]


def test_it_runs_in_production_mode_against_the_services(compose):
    env = compose["services"]["web"]["environment"]
    assert env["BAAS_MODE"] == "production"
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://")
    assert env["STORAGE_URL"].startswith("s3://")


@pytest.mark.slow  # runs docker-compose
def test_docker_compose_accepts_it(tmp_path):
    binary = shutil.which("docker-compose")
    if binary is None:
        service_missing("docker-compose (apt-get install docker-compose)")
    result = subprocess.run(
        [
            binary,
            "-f",
            str(ROOT / "docker-compose.yml"),
            "--env-file",
            str(ROOT / ".env.example"),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
