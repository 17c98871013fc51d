"""npm: dependencies of TypeScript functions (issue #22, item 4), hermetic: a tiny npm-compatible
registry on loopback (packuments and .tgz files it builds itself) is the only configured registry.
The deploy's build step resolves in a bubblewrap sandbox through the registries-only proxy; the
worker runs versions from the stored cache with the registry down."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from functions.models import Function
from tests.functions.conftest import deploy, invoke
from tests.functions.deno.loopback_registry import LoopbackRegistry

pytestmark = pytest.mark.slow  # starts sandboxes and the session's worker

PAD = "export function leftPad(s: unknown, n: number, c = '{fill}') {{ return String(s).padStart(n, c); }}\n"
PACKAGES: dict[str, dict[str, dict[str, str]]] = {
    "left-pad-ish": {
        version: {
            "index.js": PAD.replace(": unknown", "").replace(": number", "").format(fill=fill)
            + f"export const version = '{version}';\n",
            "index.d.ts": "export declare function leftPad(s: unknown, n: number, c?: string): string;\n"
            "export declare const version: string;\n",
        }
        for version, fill in (("1.0.0", " "), ("1.1.0", " "), ("2.0.0", "*"))
    },
    # Code that tries to leave the sandbox when the function calls it.
    "nosy-ish": {
        "1.0.0": {
            "index.js": textwrap.dedent(
                """
                export async function snoop(registry) {
                  const tried = {};
                  for (const [name, attempt] of Object.entries({
                    passwd: () => Deno.readTextFile("/etc/passwd"),
                    hostFile: () => Deno.readTextFile("/proc/1/environ"),
                    registry: () => fetch(registry).then((r) => r.status),
                    env: () => Deno.env.get("HOME"),
                  })) {
                    try { tried[name] = "allowed: " + String(await attempt()).slice(0, 40); }
                    catch (error) { tried[name] = String(error.name); }
                  }
                  return tried;
                }
                """
            ),
        }
    },
}


class Registry(LoopbackRegistry):
    """An npm-compatible registry: GET /<name> (packument), GET /<name>/-/<name>-<v>.tgz."""

    def __init__(self) -> None:
        self.tarballs_at = ""  # another server's URL: packuments send the tarball downloads there
        super().__init__()

    @staticmethod
    def tarball(name: str, version: str) -> bytes:
        files = {
            **PACKAGES[name][version],
            "package.json": json.dumps(
                {"name": name, "version": version, "type": "module", "main": "index.js", "types": "index.d.ts",
                 "scripts": {"postinstall": "node -e \"require('fs').writeFileSync('/tmp/pwned','x')\""}}
            ),
        }  # fmt: skip
        buffer = io.BytesIO()
        # The same bytes every time (gzip's header time fixed): the packument's checksums must match.
        with (
            gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
            tarfile.open(fileobj=zipped, mode="w") as archive,
        ):
            for path, text in files.items():
                data = text.encode()
                info = tarfile.TarInfo(f"package/{path}")
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                archive.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def answer(self, path: str) -> tuple[int, bytes, str]:
        status, body = self.npm_answer(path.lstrip("/"))
        return status, body, "application/octet-stream" if status == 200 and "/-/" in path else "application/json"

    def npm_answer(self, path: str) -> tuple[int, bytes]:
        if "/-/" in path:
            name, file = path.split("/-/", 1)
            version = file.removeprefix(name + "-").removesuffix(".tgz")
            if name in PACKAGES and version in PACKAGES[name]:
                return 200, self.tarball(name, version)
        elif path in PACKAGES:
            versions = {}
            for version in PACKAGES[path]:
                data = self.tarball(path, version)
                versions[version] = {
                    "name": path,
                    "version": version,
                    "scripts": {"postinstall": "touch /tmp/pwned"},
                    "dist": {
                        "tarball": f"{self.tarballs_at or self.url}{path}/-/{path}-{version}.tgz",
                        "shasum": hashlib.sha1(data).hexdigest(),
                        "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
                    },
                }
            latest = sorted(versions, key=lambda v: tuple(map(int, v.split("."))))[-1]
            return 200, json.dumps({"name": path, "dist-tags": {"latest": latest}, "versions": versions}).encode()
        return 404, b'{"error":"Not found"}'


@pytest.fixture
def registry(functions_api: Any) -> Iterator[Registry]:
    running = Registry()
    previous = settings.FUNCTIONS_PACKAGE_REGISTRIES
    settings.FUNCTIONS_PACKAGE_REGISTRIES = [running.url]
    try:
        yield running
    finally:
        settings.FUNCTIONS_PACKAGE_REGISTRIES = previous
        running.stop()


PADDED_TS = """
import {{ onHttp }} from "baas";
import {{ leftPad, version }} from "npm:left-pad-ish@{range}";

export const pad = onHttp(async (event) => {{
  const other = ["npm:left-pad-ish", "{other}"].join("@");  // computed: the deploy cannot see it
  let otherVersion: string;
  try {{ otherVersion = (await import(other)).version; }}
  catch (error) {{ otherVersion = String((error as Error).name); }}
  return {{ padded: leftPad("x", 4), version, otherVersion }};
}});
"""


def deploy_ts(client: Any, name: str, source: str, **config: Any) -> Any:
    return deploy(client, name, "", files={"main.ts": textwrap.dedent(source)}, **config)


def test_npm_dependencies_resolve_at_deploy_and_run_with_the_registry_down(functions_api, registry) -> None:
    first = deploy_ts(functions_api, "padder", PADDED_TS.format(range="1", other="2.0.0"))
    assert first.status_code == 201, first.json()
    assert any(path.endswith(".tgz") for path in registry.requests)
    # The range resolved to the newest 1.x; a second version pins 2.0.0, asks for 1.1.0 at run time.
    second = deploy_ts(functions_api, "padder", PADDED_TS.format(range="2.0.0", other="1.1.0"))
    assert second.status_code == 201, second.json()
    registry.stop()
    seen = len(registry.requests)

    result = invoke(functions_api, "padder", None).json()
    assert result["invocation"]["status"] == "succeeded", result
    # Version 2 runs 2.0.0 and does not see version 1's cache (1.1.0 is not there: --cached-only).
    assert result["result"]["padded"] == "***x" and result["result"]["version"] == "2.0.0"
    assert result["result"]["otherVersion"] != "1.1.0"

    rolled = functions_api.post("/v1/functions/padder/rollback", {"version": 1}, format="json")
    assert rolled.status_code == 200, rolled.json()
    again = invoke(functions_api, "padder", None).json()
    assert again["invocation"]["status"] == "succeeded", again
    assert again["result"]["padded"] == "   x" and again["result"]["version"] == "1.1.0"
    assert again["result"]["otherVersion"] != "2.0.0"
    # A change of secrets deploys the same code with the same packages (the registry is still down).
    changed = functions_api.patch("/v1/functions/padder/secrets", {"set": {"TOKEN": "t"}}, format="json")
    assert changed.status_code == 201, changed.json()
    assert invoke(functions_api, "padder", None).json()["result"]["version"] == "1.1.0"
    assert len(registry.requests) == seen  # nothing was downloaded at run time


def test_unresolvable_dependencies_fail_the_deploy_with_the_resolvers_message(functions_api, registry) -> None:
    good = deploy_ts(functions_api, "needy", PADDED_TS.format(range="1", other="2.0.0"))
    assert good.status_code == 201, good.json()

    unknown = deploy_ts(functions_api, "needy", 'import x from "npm:no-such-package-ish@1";\nexport const y = x;\n')
    assert unknown.status_code == 400
    error = unknown.json()["error"]
    assert error["code"] == "deploy_failed"
    assert "no-such-package-ish" in error["message"] and "does not exist" in error["message"], error
    assert error["details"]["error"]["type"] == "DependencyError"

    missing_version = deploy_ts(
        functions_api, "needy", 'import { version } from "npm:left-pad-ish@7";\nexport const v = version;\n'
    )
    assert missing_version.status_code == 400
    message = missing_version.json()["error"]["message"]
    assert "left-pad-ish" in message and "'7'" in message, message

    # A host that is not a configured registry (a loopback server of its own): the registry's
    # packument sends the tarball download there, and a URL import names it.
    other = Registry()
    registry.tarballs_at = other.url
    try:
        refused = deploy_ts(
            functions_api, "needy", 'import { version } from "npm:left-pad-ish@2";\nexport const v = version;\n'
        )
        url_import = deploy_ts(
            functions_api, "needy", f'import {{ version }} from "{other.url}mod.ts";\nexport const v = version;\n'
        )
    finally:
        other.stop()
        registry.tarballs_at = ""
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "deploy_failed"
    message = refused.json()["error"]["message"]
    assert "left-pad-ish" in message and "Only the configured package registries are reachable" in message, message
    assert url_import.status_code == 400
    assert other.url.removesuffix("/").split("//")[1] in url_import.json()["error"]["message"], url_import.json()
    assert other.requests == [], "the build step reached a host that is not a registry"

    # A type error against the package's own types is caught by the same step.
    typed = deploy_ts(
        functions_api,
        "needy",
        'import { leftPad } from "npm:left-pad-ish@1";\nexport const n: number = leftPad("x", 2);\n',
    )
    assert typed.status_code == 400
    assert typed.json()["error"]["details"]["diagnostics"][0]["code"] == "TS2322", typed.json()["error"]["message"]

    # Nothing was activated by any of them.
    assert Function.objects.get(name="needy").active_version.number == 1


def test_a_package_is_as_confined_as_the_function(functions_api, registry) -> None:
    source = f"""
    import {{ onHttp }} from "baas";
    import {{ snoop }} from "npm:nosy-ish@1";
    export const nosy = onHttp(() => snoop("{registry.url}nosy-ish"));
    """
    for network in ("none", "egress"):
        response = deploy_ts(functions_api, f"nosy-{network}", source, network=network)
        assert response.status_code == 201, response.json()
        seen = len(registry.requests)
        outcome = invoke(functions_api, f"nosy-{network}", None).json()
        assert outcome["invocation"]["status"] == "succeeded", outcome
        tried = outcome["result"]
        # No read, no environment; the fetch fails (none: no permission) or the proxy answers 403.
        assert tried["passwd"] == tried["hostFile"] == tried["env"] == "NotCapable", tried
        assert tried["registry"] == ("NotCapable" if network == "none" else "allowed: 403"), tried
        # Loopback stays refused for function code even though the registry lives there.
        assert len(registry.requests) == seen


def test_a_bundle_may_not_bring_its_own_cache_folder(functions_api, registry) -> None:
    files = {
        "main.ts": 'import { version } from "npm:left-pad-ish@1";\nexport const v = version;\n',
        ".deps/registries.json": "{}",
    }
    response = deploy(functions_api, "sneaky", "", files=files)
    assert response.status_code == 400
    assert ".deps" in response.json()["error"]["message"]


def test_the_cli_deploys_one_pre_bundled_file(functions_api, registry, tmp_path) -> None:
    from baas_client import BaasError
    from baas_client.functions_admin import _multipart

    from functions.cli.actions import bundle_file

    dist = tmp_path / "dist"
    dist.mkdir()
    # What a bundler leaves: one module, its npm dependency inlined, `baas` left external.
    (dist / "main.js").write_text(
        'import { onHttp } from "baas";\nfunction leftPad(s, n) { return String(s).padStart(n, "-"); }\n'
        "export const hi = onHttp((event) => leftPad(event.payload, 3));\n"
    )
    (dist / "baas.json").write_text('{"timeout": 7}')
    (dist / "ignored.js").write_text("throw new Error('not bundled');\n")
    with pytest.raises(BaasError, match="--name"):
        bundle_file(dist / "main.js", name=None)
    with pytest.raises(BaasError, match="single file"):
        bundle_file(dist / "baas.json", name="x")
    bundle = bundle_file(dist / "main.js", name="bundled")
    assert bundle.files == ["main.js"] and bundle.config == {"timeout": 7, "name": "bundled", "entry": "main.js"}

    body = _multipart("b0undary", bundle.config, bundle.archive)
    response = functions_api.generic(
        "POST", "/v1/functions", body, content_type="multipart/form-data; boundary=b0undary"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["entry"] == "main.js" and response.json()["timeout"] == 7
    assert invoke(functions_api, "bundled", "x").json()["result"] == "--x"
    assert registry.requests == []  # no dependency step for a bundle without npm:/jsr: imports


def test_dependencies_over_the_size_limit_fail_the_deploy(functions_api, registry) -> None:
    previous = settings.FUNCTIONS_DEPENDENCIES_MAX_BYTES
    settings.FUNCTIONS_DEPENDENCIES_MAX_BYTES = 200
    try:
        response = deploy_ts(functions_api, "heavy", PADDED_TS.format(range="1", other="2.0.0"))
    finally:
        settings.FUNCTIONS_DEPENDENCIES_MAX_BYTES = previous
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "deploy_failed" and error["details"]["limit"] == 200
    assert "more than 200 bytes (FUNCTIONS_DEPENDENCIES_MAX_BYTES)" in error["message"], error["message"]
    assert not Function.objects.filter(name="heavy").exists()
