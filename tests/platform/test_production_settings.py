"""Production mode refuses unsafe configuration at start-up, naming the setting to fix."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from tests.conftest import BAAS_BIN
from tests.platform.processes import platform_env

pytestmark = pytest.mark.slow  # starts `baas check` processes (tests/process_level.py)

GOOD = {
    "BAAS_MODE": "production",
    "SECRET_KEY": "k" * 50,
    "ALLOWED_HOSTS": "api.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
}


def run_check(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = platform_env(uuid.uuid4().hex, BAAS_DATA_DIR=str(tmp_path), **env)
    return subprocess.run([BAAS_BIN, "check"], env=environment, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY": "change-me-to-50-random-characters"}, "SECRET_KEY"),
        ({"DEBUG": "true"}, "DEBUG"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
    ],
)
def test_production_refuses_to_start_with_an_unsafe_setting(tmp_path, change, named):
    result = run_check(tmp_path, **{**GOOD, **change})
    assert result.returncode != 0
    assert named in result.stderr


def test_production_starts_with_safe_settings(tmp_path):
    result = run_check(tmp_path, **GOOD)
    assert result.returncode == 0, result.stderr


def test_a_malformed_value_is_refused_rather_than_defaulted(tmp_path):
    result = run_check(tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be true or false" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("s" * 40 + "\n")
    env = {**GOOD, "SECRET_KEY": "", "SECRET_KEY_FILE": str(secret_file)}
    result = run_check(tmp_path, **env)
    assert result.returncode == 0, result.stderr
