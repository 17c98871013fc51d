"""A TypeScript function's deno.json: its compilerOptions reach the deploy's `deno check` and the
run (transpiling), and nothing in it widens what the function may do or reaches outside its bundle
(400 deploy_failed naming the key). Real sandboxes (tests/functions/conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functions.conftest import invoke
from tests.functions.deno.test_deno_functions import deploy_ts

pytestmark = pytest.mark.slow  # deploys start sandboxes

# Implicit any (a strict-mode error), a DOM type (not in Deno's default lib) and JSX with a factory of
# its own: each needs the deno.json below, at check or at run.
LOOSE_TSX = """
import { onHttp } from "baas";
import { h, Fragment } from "./jsx.ts";
import { shout } from "./lib/shout.ts";

function loose(value) {
  return value;
}
const nothing: HTMLElement | null = null;

export const render = onHttp((event) => ({
  tree: <p id="x">{shout(loose(String(event.payload)))}<>!</></p>,
  nothing,
}));
"""
JSX_TS = """
export function h(tag: unknown, props: unknown, ...children: unknown[]) {
  return { tag: typeof tag === "string" ? tag : "fragment", props, children };
}
export const Fragment = "fragment";
"""
ENTRY = 'export { render } from "./view.tsx";\n'
SHOUT_TS = "export const shout = (text: string): string => text.toUpperCase();\n"
CONFIG = {
    "$schema": "https://deno.land/x/deno/cli/schemas/config-file.v1.json",
    "compilerOptions": {"strict": False, "lib": ["deno.window", "dom"], "jsx": "react", "jsxFactory": "h",
                        "jsxFragmentFactory": "Fragment"},
    "tasks": {"evil": "rm -rf /"},  # never run: tasks are another tool's
    "fmt": {"lineWidth": 120},
}  # fmt: skip


def deploy_tsx(client: Any, name: str, config: dict[str, Any] | str) -> Any:
    text = config if isinstance(config, str) else json.dumps(config)
    files = {"jsx.ts": JSX_TS, "lib/shout.ts": SHOUT_TS, "deno.json": text, "view.tsx": LOOSE_TSX}
    return deploy_ts(client, name, ENTRY, extra=files)


def test_compiler_options_reach_the_check_and_the_run(functions_api) -> None:
    response = deploy_tsx(functions_api, "tsx-config", CONFIG)
    assert response.status_code == 201, response.json()
    body = invoke(functions_api, "tsx-config", "hi").json()
    assert body["invocation"]["status"] == "succeeded", body
    fragment = {"tag": "fragment", "props": None, "children": ["!"]}
    assert body["result"] == {"tree": {"tag": "p", "props": {"id": "x"}, "children": ["HI", fragment]}, "nothing": None}


def test_without_them_the_same_code_fails_the_check_where_deno_says(functions_api) -> None:
    strict = {**CONFIG, "compilerOptions": {key: value for key, value in CONFIG["compilerOptions"].items()
                                            if key not in ("strict", "lib")}}  # fmt: skip
    response = deploy_tsx(functions_api, "tsx-strict", strict)
    assert response.status_code == 400 and response.json()["error"]["code"] == "deploy_failed"
    found = {(item["code"], item["file"], item["line"]) for item in response.json()["error"]["details"]["diagnostics"]}
    assert ("TS7006", "view.tsx", 6) in found  # loose(value): implicitly any
    assert ("TS2304", "view.tsx", 9) in found  # HTMLElement: not in Deno's default lib


def test_a_deno_jsonc_with_comments_is_read_too(functions_api) -> None:
    text = "// the author's notes\n" + json.dumps(CONFIG, indent=2).replace('"fmt"', '/* later */ "fmt"')[:-2] + ",\n}"
    files = {"jsx.ts": JSX_TS, "lib/shout.ts": SHOUT_TS, "deno.jsonc": text, "view.tsx": LOOSE_TSX}
    response = deploy_ts(functions_api, "tsx-jsonc", ENTRY, extra=files)
    assert response.status_code == 201, response.json()
    assert invoke(functions_api, "tsx-jsonc", "x").json()["result"]["tree"]["children"][0] == "X"


def test_an_import_map_file_inside_the_bundle_is_honoured(functions_api) -> None:
    source = 'import { onHttp } from "baas";\nimport { shout } from "@text/shout.ts";\n' + (
        "export const hello = onHttp(() => shout('mapped'));\n"
    )
    config = {"importMap": "./maps/imports.json"}
    mapping = {"imports": {"@text/": "../lib/"}}  # relative to the map's own folder, as Deno reads it
    extra = {"deno.json": json.dumps(config), "maps/imports.json": json.dumps(mapping), "lib/shout.ts": SHOUT_TS}
    response = deploy_ts(functions_api, "import-map-file", source, extra=extra)
    assert response.status_code == 201, response.json()
    assert invoke(functions_api, "import-map-file", None).json()["result"] == "MAPPED"


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"importMap": "../outside.json"}, "importMap", "outside the bundle"),
        ({"importMap": "https://example.com/map.json"}, "importMap", "a JSON file of the bundle"),
        ({"imports": {"secret": "/etc/passwd"}}, "imports", "relative path inside the bundle"),
        ({"imports": {"up/": "../../"}}, "imports", "outside the bundle"),
        ({"imports": {"host": "file:///etc/hosts"}}, "imports", "relative path inside the bundle"),
        ({"nodeModulesDir": "auto"}, "nodeModulesDir", "no node_modules folder"),
        ({"vendor": True}, "vendor", "no vendor folder"),
        ({"permissions": {"default": {"read": True}}}, "permissions", "Deno permissions are the platform's"),
        ({"unstable": ["kv"]}, "unstable", "unstable Deno APIs"),
        ({"workspace": ["./a"]}, "workspace", "not a workspace"),
        ({"someFutureKey": 1}, "someFutureKey", "not a key baas knows"),
        ({"compilerOptions": {"plugins": []}}, "compilerOptions.plugins", "not supported in a function"),
        ({"compilerOptions": {"types": ["/etc/x.d.ts"]}}, "compilerOptions.types", "relative path inside"),
        ({"compilerOptions": {"types": ["../x.d.ts"]}}, "compilerOptions.types", "outside the bundle"),
        ({"compilerOptions": {"strict": "no"}}, "compilerOptions.strict", "true or false"),
        ({"compilerOptions": {"jsx": "vue"}}, "compilerOptions.jsx", "must be one of"),
    ],
)
def test_what_would_widen_the_function_or_leave_the_bundle_is_refused(functions_api, config, key, words) -> None:
    source = 'import { onHttp } from "baas";\nexport const hello = onHttp(() => 1);\n'
    response = deploy_ts(functions_api, "bad-config", source, extra={"deno.json": json.dumps(config)})
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "deploy_failed" and words in error["message"], error
    assert error["details"] == {"file": "deno.json", "key": key}
    assert functions_api.get("/v1/functions/bad-config").status_code == 404  # nothing activated


def test_settings_functions_get_anyway_are_accepted(functions_api) -> None:
    source = 'import { onHttp } from "baas";\nimport { shout } from "@text/shout.ts";\n' + (
        "export const hello = onHttp(() => shout('fine'));\n"
    )
    config = {"nodeModulesDir": "none", "vendor": False, "imports": {"@text/": "./lib/"}, "lock": False}
    extra = {"deno.json": json.dumps(config), "lib/shout.ts": SHOUT_TS}
    response = deploy_ts(functions_api, "agreeable-config", source, extra=extra)
    assert response.status_code == 201, response.json()
    assert invoke(functions_api, "agreeable-config", None).json()["result"] == "FINE"


def test_a_version_from_before_a_rule_runs_without_what_the_rule_refuses() -> None:
    """A deno.json deploy would now refuse (stored by an older baas) loads with the refused parts left
    out rather than failing: here `unstable: ["kv"]`, which would have given the code Deno KV."""
    import hashlib

    from functions import services
    from functions.models import FunctionVersion
    from functions.sandbox.paths import code_dir
    from functions.sandbox.process import SandboxProcess, SandboxSpec
    from tests.functions.deno.test_deno_sandbox import call
    from tests.functions.sandboxes import bubblewrap

    files = {
        "main.ts": b'import { onHttp } from "baas";\nimport { shout } from "@text/shout.ts";\n'
        b'export const probe = onHttp(() => ({ kv: typeof (Deno as any).openKv, text: shout("old") }));\n',
        "lib/shout.ts": SHOUT_TS.encode(),
        "deno.json": json.dumps({"unstable": ["kv"], "imports": {"@text/": "./lib/"}, "someOldKey": 1}).encode(),
    }
    digest = hashlib.sha256(b"".join(files[name] for name in sorted(files))).hexdigest()[:32]
    spec = SandboxSpec(
        key=f"test-old-config-{digest}",
        code_dir=code_dir(digest, files),
        entry="main.ts",
        env={},
        network="none",
        limits=services.limits_for(FunctionVersion(timeout=5, memory=128)),
        runtime="deno",
    )
    process = SandboxProcess(spec, bubblewrap())
    process.start()
    try:
        assert call(process, {}).value == {"kv": "undefined", "text": "OLD"}
    finally:
        process.kill()
