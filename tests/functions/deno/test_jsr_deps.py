"""jsr: dependencies of TypeScript functions, hermetic: a JSR-compatible registry on loopback (the
layout Deno reads: /@scope/name/meta.json, /@scope/name/<version>_meta.json with each file's
checksum, and the files under /@scope/name/<version>/) is the configured JSR registry, which Deno
is pointed at through JSR_URL. The deploy's build step resolves into the version's cache; the worker
runs it with the registry down."""

from __future__ import annotations

import hashlib
import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from functions.models import Function
from tests.functions.conftest import invoke
from tests.functions.deno.loopback_registry import LoopbackRegistry
from tests.functions.deno.test_deps import deploy_ts

pytestmark = pytest.mark.slow  # starts sandboxes and the session's worker

# @baas-test/greet: two versions; the module imports a file of its own package.
PACKAGES: dict[str, dict[str, dict[str, str]]] = {
    "@baas-test/greet": {
        version: {
            "/mod.ts": 'import { punctuation } from "./util.ts";\n'
            f'export const version = "{version}";\n'
            "export function greet(name: string): string {\n"
            f"  return `{word}, ${{name}}${{punctuation}}`;\n"
            "}\n",
            "/util.ts": 'export const punctuation: string = "!";\n',
        }
        for version, word in (("1.0.0", "Hi"), ("1.2.0", "Hello"), ("2.0.0", "Howdy"))
    },
}


class JsrRegistry(LoopbackRegistry):
    """GET /@scope/name/meta.json, /@scope/name/<version>_meta.json, /@scope/name/<version>/<file>."""

    @staticmethod
    def answer(path: str) -> tuple[int, bytes, str]:
        missing = (404, b'{"error":"not found"}', "application/json")
        parts = path.lstrip("/").split("/", 2)
        if len(parts) < 3 or not parts[0].startswith("@"):
            return missing
        package, rest = f"{parts[0]}/{parts[1]}", parts[2]
        versions = PACKAGES.get(package)
        if versions is None:
            return missing
        if rest == "meta.json":
            latest = sorted(versions, key=lambda v: tuple(map(int, v.split("."))))[-1]
            scope, name = package[1:].split("/")
            meta = {"scope": scope, "name": name, "latest": latest, "versions": {v: {} for v in versions}}
            return 200, json.dumps(meta).encode(), "application/json"
        if rest.endswith("_meta.json") and rest.removesuffix("_meta.json") in versions:
            files = versions[rest.removesuffix("_meta.json")]
            manifest = {
                file: {"size": len(text.encode()), "checksum": "sha256-" + hashlib.sha256(text.encode()).hexdigest()}
                for file, text in files.items()
            }
            return 200, json.dumps({"manifest": manifest, "exports": {".": "./mod.ts"}}).encode(), "application/json"
        version, _, file = rest.partition("/")
        if version in versions and f"/{file}" in versions[version]:
            return 200, versions[version][f"/{file}"].encode(), "application/typescript"
        return missing


@pytest.fixture
def jsr(functions_api: Any) -> Iterator[JsrRegistry]:
    running = JsrRegistry()
    previous = settings.FUNCTIONS_PACKAGE_REGISTRIES
    settings.FUNCTIONS_PACKAGE_REGISTRIES = [f"jsr={running.url}"]
    try:
        yield running
    finally:
        settings.FUNCTIONS_PACKAGE_REGISTRIES = previous
        running.stop()


GREETER_TS = """
import { onHttp } from "baas";
import { greet, version } from "jsr:@baas-test/greet@^1";

export const hello = onHttp(async (event) => {
  const other = ["jsr:@baas-test/greet", "2.0.0"].join("@");  // computed: the deploy cannot see it
  let otherVersion: string;
  try { otherVersion = (await import(other)).version; }
  catch (error) { otherVersion = String((error as Error).name); }
  return { greeting: greet(String(event.payload)), version, otherVersion };
});
"""


def test_jsr_dependencies_resolve_at_deploy_and_run_with_the_registry_down(functions_api, jsr) -> None:
    response = deploy_ts(functions_api, "jsr-greeter", GREETER_TS)
    assert response.status_code == 201, response.json()
    # Resolved through the registry's own layout: the package's versions, the chosen version's
    # manifest, its files (the newest 1.x).
    assert "/@baas-test/greet/meta.json" in jsr.requests
    assert "/@baas-test/greet/1.2.0_meta.json" in jsr.requests
    assert {"/@baas-test/greet/1.2.0/mod.ts", "/@baas-test/greet/1.2.0/util.ts"} <= set(jsr.requests)
    jsr.stop()
    seen = len(jsr.requests)

    body = invoke(functions_api, "jsr-greeter", "Ada").json()
    assert body["invocation"]["status"] == "succeeded", body
    assert body["result"]["greeting"] == "Hello, Ada!" and body["result"]["version"] == "1.2.0"
    assert body["result"]["otherVersion"] != "2.0.0"  # nothing is fetched at run time
    assert len(jsr.requests) == seen


def test_unresolvable_jsr_imports_fail_the_deploy_with_the_resolvers_message(functions_api, jsr) -> None:
    good = deploy_ts(functions_api, "jsr-needy", GREETER_TS)
    assert good.status_code == 201, good.json()
    cases = {
        "unknown": 'import { x } from "jsr:@baas-test/no-such-package@1";\nexport const y = x;\n',
        "no version": 'import { greet } from "jsr:@baas-test/greet@7";\nexport const g = greet;\n',
    }
    for label, source in cases.items():
        response = deploy_ts(functions_api, "jsr-needy", source)
        assert response.status_code == 400, (label, response.json())
        error = response.json()["error"]
        assert error["code"] == "deploy_failed", error
        assert error["message"].startswith("The dependencies could not be resolved: "), error["message"]
        assert error["details"]["error"]["type"] == "DependencyError"
        name = "@baas-test/no-such-package" if label == "unknown" else "@baas-test/greet"
        assert name in error["message"], (label, error["message"])
    assert Function.objects.get(name="jsr-needy").active_version.number == 1  # nothing activated


def test_a_jsr_registry_that_is_not_configured_is_not_reached(functions_api, jsr) -> None:
    # Only an npm registry configured: Deno's default JSR registry (jsr.io) is not on the allow-list,
    # and the loopback one is not asked either.
    settings.FUNCTIONS_PACKAGE_REGISTRIES = ["http://127.0.0.1:9/"]
    response = deploy_ts(functions_api, "jsr-unlisted", textwrap.dedent(GREETER_TS))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "deploy_failed" and "jsr.io" in error["message"], error["message"]
    assert "Only the configured package registries are reachable" in error["message"], error["message"]
    assert jsr.requests == []
