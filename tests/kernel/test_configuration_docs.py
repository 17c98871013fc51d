"""Configuration docs that cannot drift: every environment variable the code reads is listed in
`.env.example` and documented in a table of docs/configuration.md, and neither lists one the code
no longer reads.

The variables are found in the source (AST), not by importing settings: calls of the strict readers
of baas/config.py (`env_str`, `env_int`, …, `env_rate`) and `os.environ`/`os.getenv`
reads, each with a literal name, in every package of the project.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("baas", "auth", "documents", "storage", "realtime", "functions", "baas_runtime")
READERS = {"env_str", "env_bool", "env_int", "env_list", "env_secret", "env_choice", "env_rate"}
ENVIRON_METHODS = {"get", "getenv", "setdefault", "pop"}
# Read, but not configuration: the entry points point Django at baas.settings themselves.
NOT_CONFIGURATION = {"DJANGO_SETTINGS_MODULE"}
# Read by docker-compose.yml only (compose's own and its interpolations), not by baas.
COMPOSE_ONLY = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text())) | {"COMPOSE_PROJECT_NAME"}


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _imports_os_environ(tree: ast.Module) -> bool:
    imports = (node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "os")
    return any(alias.name == "environ" for node in imports for alias in node.names)


def variables_read() -> dict[str, set[str]]:
    """Variable name → the files that read it."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), str(path))
            # The process environment, not a WSGI request's `environ` dict (baas/front.py).
            environs = {"os.environ"} | ({"environ"} if _imports_os_environ(tree) else set())
            for node in ast.walk(tree):
                name = None
                if isinstance(node, ast.Call) and node.args:
                    function = node.func
                    if isinstance(function, ast.Name) and function.id in READERS:
                        name = _literal(node.args[0])
                    elif isinstance(function, ast.Attribute) and function.attr in ENVIRON_METHODS:
                        owner = ast.unparse(function.value)
                        if owner in environs or (function.attr == "getenv" and owner == "os"):
                            name = _literal(node.args[0])
                elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in environs:
                    name = _literal(node.slice)
                if name:
                    found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return {name: files for name, files in found.items() if name not in NOT_CONFIGURATION}


def env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def configuration_table_names() -> set[str]:
    names: set[str] = set()
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell))
    return names


def test_the_scan_finds_the_settings_readers() -> None:
    found = variables_read()
    # One of each kind of read, so that a broken scan cannot pass by finding nothing.
    assert "baas/settings.py" in found["SECRET_KEY"]  # env_secret
    assert "baas/settings.py" in found["AUTH_RATE_TOKEN_IP"]  # env_rate
    assert "baas/config.py" in found["BAAS_ENV_FILE"]  # os.environ.get
    assert "baas/metrics.py" in found["PROMETHEUS_MULTIPROC_DIR"]
    assert len(found) > 100


def test_env_example_lists_every_variable_the_code_reads() -> None:
    missing = sorted(set(variables_read()) - env_example_names())
    assert not missing, f".env.example lacks {missing}"


def test_configuration_md_documents_every_variable_the_code_reads() -> None:
    missing = sorted(set(variables_read()) - configuration_table_names())
    assert not missing, f"docs/configuration.md has no table row for {missing}"


def test_env_example_lists_nothing_the_code_no_longer_reads() -> None:
    stale = sorted(env_example_names() - set(variables_read()) - COMPOSE_ONLY)
    assert not stale, f".env.example lists variables nothing reads: {stale}"


def test_configuration_md_documents_nothing_the_code_no_longer_reads() -> None:
    stale = sorted(configuration_table_names() - set(variables_read()))
    assert not stale, f"docs/configuration.md documents variables nothing reads: {stale}"
