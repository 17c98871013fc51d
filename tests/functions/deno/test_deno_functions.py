"""TypeScript functions on Deno through the whole platform: deploy (type-checked), HTTP invoke, the
runtime's calls with grants, secrets, errors as callers see them, warm reuse, limits. Real
bubblewrap sandboxes and the session's worker process (tests/functions/conftest.py)."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from tests.functions.conftest import deploy, invoke

HELLO_TS = """
import { onHttp } from "baas";
import { greet } from "./lib/greet.ts";

// top-level await: the module finishes loading before the first invocation
const loadedAt: number = await Promise.resolve(Date.now());
let calls = 0;

export const hello = onHttp(async (event, ctx) => {
  calls += 1;
  console.log("hello", JSON.stringify(event.payload));
  return {
    echo: event.payload,
    greeting: greet(String((event.payload as { name?: string } | null)?.name ?? "world")),
    calls,
    loadedAt,
    version: ctx.version,
    invocation: ctx.invocation_id,
    deadlineInFuture: (ctx.deadline ?? 0) > Date.now(),
  };
});
"""
GREET_TS = """
export function greet(name: string): string {
  return `Hello, ${name}!`;
}
"""


def deploy_ts(client: Any, name: str, source: str, *, extra: dict[str, str] | None = None, **config: Any) -> Any:
    files = {"main.ts": textwrap.dedent(source), **(extra or {})}
    return deploy(client, name, "", files=files, **config)


def test_deploy_and_invoke_a_typescript_function(functions_api) -> None:
    response = deploy_ts(functions_api, "hello-ts", HELLO_TS, extra={"lib/greet.ts": GREET_TS})
    assert response.status_code == 201, response.json()
    version = response.json()
    assert version["runtime"] == "deno" and version["entry"] == "main.ts"
    assert version["triggers"] == [{"type": "http", "handler": "hello"}]
    assert functions_api.get("/v1/functions/hello-ts").json()["runtime"] == "deno"
    versions = functions_api.get("/v1/functions/hello-ts/versions").json()["items"]
    assert [item["runtime"] for item in versions] == ["deno"]

    first = invoke(functions_api, "hello-ts", {"name": "Ada"}).json()
    assert first["invocation"]["status"] == "succeeded", first
    result = first["result"]
    assert result["greeting"] == "Hello, Ada!" and result["echo"] == {"name": "Ada"}
    assert result["version"] == 1 and result["invocation"] == first["invocation"]["id"]
    assert result["deadlineInFuture"] is True
    assert 'hello {"name":"Ada"}' in first["invocation"]["logs"]
    # Warm: the second call is served by the same process (module state survives).
    second = invoke(functions_api, "hello-ts", None).json()["result"]
    assert second["calls"] == result["calls"] + 1 and second["loadedAt"] == result["loadedAt"]


def test_the_runtime_is_inferred_given_or_refused(functions_api) -> None:
    js = deploy(
        functions_api,
        "plain-js",
        "",
        files={"main.js": 'import {onHttp} from "baas";\nexport const h = onHttp(() => 1);\n'},
    )
    assert js.status_code == 201, js.json()
    assert js.json()["runtime"] == "deno" and js.json()["entry"] == "main.js"
    python = deploy(
        functions_api, "plain-py", "from baas_runtime import on_http\n\n@on_http\ndef h(e, c):\n    return 1\n"
    )
    assert python.status_code == 201 and python.json()["runtime"] == "python"
    conflict = deploy_ts(functions_api, "conflict", HELLO_TS, runtime="python", entry="main.ts")
    assert conflict.status_code == 400, conflict.json()
    assert conflict.json()["error"]["code"] == "validation_error"
    assert conflict.json()["error"]["details"]["runtime"][0]["code"] == "conflict"
    unknown = deploy_ts(functions_api, "unknown-rt", HELLO_TS, runtime="node")
    assert unknown.status_code == 400 and "runtime" in unknown.json()["error"]["details"]
    assert functions_api.get("/v1/functions/conflict").status_code == 404


def test_a_type_error_fails_the_deploy_with_file_line_and_column(functions_api) -> None:
    assert deploy_ts(functions_api, "typed", HELLO_TS, extra={"lib/greet.ts": GREET_TS}).status_code == 201
    broken = GREET_TS.replace("return `Hello, ${name}!`;", "return name.length;")
    response = deploy_ts(functions_api, "typed", HELLO_TS, extra={"lib/greet.ts": broken})
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "deploy_failed"
    assert "lib/greet.ts:3:3" in error["message"], error["message"]
    assert error["details"]["diagnostics"][0] == {
        "file": "lib/greet.ts",
        "line": 3,
        "column": 3,
        "message": "Type 'number' is not assignable to type 'string'.",
        "code": "TS2322",
    }
    # Nothing was activated: version 1 still answers.
    function = functions_api.get("/v1/functions/typed").json()
    assert function["version"] == 1
    assert invoke(functions_api, "typed", {"name": "x"}).json()["result"]["greeting"] == "Hello, x!"

    syntax = deploy_ts(functions_api, "typed", "export const = 1;\n")
    assert syntax.status_code == 400
    assert syntax.json()["error"]["details"]["diagnostics"][0]["file"] == "main.ts"
    assert syntax.json()["error"]["details"]["diagnostics"][0]["line"] == 1


def test_a_module_that_throws_at_load_fails_the_deploy(functions_api) -> None:
    response = deploy_ts(functions_api, "throws", 'throw new RangeError("bad config");\nexport {};\n')
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "deploy_failed"
    assert error["details"]["error"]["type"] == "RangeError"
    assert "main.ts:1" in error["details"]["error"]["traceback"]


CALLER_TS = """
import { onHttp, db, storage, secrets, PermissionDenied, BaasError } from "baas";

export const call = onHttp(async (event) => {
  const what = event.payload as string;
  try {
    if (what === "db.create") return await db.collection("notes").create({ text: "hi" }, "n1");
    if (what === "db.get") return await db.collection("notes").get("n1");
    if (what === "db.parallel") {
      const [a, b] = await Promise.all([db.collection("notes").get("n1"), db.collection("notes").get("n1")]);
      return [a.id, b.id];
    }
    if (what === "storage.write") return await storage.write("files", "a.txt", "hello");
    if (what === "secret") return { token: secrets.get("TOKEN") ?? null, missing: secrets.get("NOPE") ?? null };
    if (what === "env") return Deno.env.get("TOKEN") ?? null;
    if (what === "fail") throw new BaasError("Nothing left", "out_of_stock");
    if (what === "crash") throw new Error(`secret is ${secrets.get("TOKEN")}`);
  } catch (error) {
    if (error instanceof PermissionDenied) return { denied: error.message, code: error.code };
    throw error;
  }
  return null;
});
"""


def test_calls_are_checked_against_the_grants(functions_api) -> None:
    assert deploy_ts(functions_api, "ts-nogrants", CALLER_TS).status_code == 201
    for what, grant in [
        ("db.create", "db:write:notes"),
        ("db.get", "db:read:notes"),
        ("storage.write", "storage:write:files"),
    ]:
        result = invoke(functions_api, "ts-nogrants", what).json()["result"]
        assert result == {"denied": f"this function has no {grant} permission", "code": "permission_denied"}

    from documents.services import create_collection

    create_collection(name="notes")
    granted = deploy_ts(functions_api, "ts-granted", CALLER_TS, permissions=["db:write:notes", "db:read:*"])
    assert granted.status_code == 201, granted.json()
    created = invoke(functions_api, "ts-granted", "db.create").json()
    assert created["invocation"]["status"] == "succeeded", created
    assert created["result"]["id"] == "n1" and created["result"]["data"] == {"text": "hi"}
    assert functions_api.get("/v1/db/notes/n1").json()["data"] == {"text": "hi"}
    assert invoke(functions_api, "ts-granted", "db.parallel").json()["result"] == ["n1", "n1"]


def test_secrets_and_errors_as_callers_see_them(functions_api, alice_api) -> None:
    response = deploy_ts(functions_api, "ts-secret", CALLER_TS, secrets={"TOKEN": "s3cr3t"}, invoke="authenticated")
    assert response.status_code == 201, response.json()
    assert invoke(functions_api, "ts-secret", "secret").json()["result"] == {"token": "s3cr3t", "missing": None}
    # No environment access: secrets come through the baas module only.
    env = invoke(functions_api, "ts-secret", "env").json()["invocation"]
    assert env["status"] == "failed" and env["error"]["type"] == "NotCapable", env["error"]

    owner = invoke(functions_api, "ts-secret", "fail").json()["invocation"]
    assert owner["error"]["code"] == "out_of_stock" and owner["error"]["type"] == "BaasError"
    assert "main.ts:" in owner["error"]["traceback"]
    chosen = invoke(alice_api, "ts-secret", "fail").json()["invocation"]
    assert chosen["error"] == {"type": "BaasError", "code": "out_of_stock", "message": "Nothing left"}
    hidden = invoke(alice_api, "ts-secret", "crash").json()["invocation"]
    assert hidden["error"]["code"] == "function_error" and "s3cr3t" not in str(hidden)
    assert hidden["logs"] is None


LIMITS_TS = """
import { onHttp } from "baas";

export const limits = onHttp(async (event) => {
  const what = event.payload as string;
  if (what === "sleep") await new Promise((resolve) => setTimeout(resolve, 60_000));
  if (what === "never") await new Promise(() => {});
  if (what === "loop") while (true) { /* spin */ }
  if (what === "memory") {
    const hoard: unknown[] = [];
    while (true) hoard.push(new Array(100_000).fill({ x: 1 }));
  }
  if (what === "timer") setTimeout(() => console.log("LEFTOVER"), 200);
  return "done";
});
"""


@pytest.mark.parametrize(
    ("what", "timeout", "code", "fragment"),
    [
        ("sleep", 2, "timeout", "2 s timeout"),
        ("never", 2, "timeout", "2 s timeout"),
        ("loop", 2, "timeout", "2 s timeout"),
        ("memory", 30, "crashed", "ran out of memory (its limit is 64 MiB)"),
    ],
)
def test_limits_stop_the_invocation_and_the_function_keeps_serving(
    functions_api, what, timeout, code, fragment
) -> None:
    response = deploy_ts(functions_api, "ts-limits", LIMITS_TS, timeout=timeout, memory=64)
    assert response.status_code == 201, response.json()
    failed = invoke(functions_api, "ts-limits", what).json()["invocation"]
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == code and fragment in failed["error"]["message"], failed["error"]
    assert invoke(functions_api, "ts-limits", "nothing").json()["result"] == "done"


def test_a_timer_left_behind_recycles_the_sandbox(functions_api) -> None:
    assert deploy_ts(functions_api, "ts-timer", LIMITS_TS).status_code == 201
    left = invoke(functions_api, "ts-timer", "timer").json()["invocation"]
    assert left["status"] == "succeeded"
    assert "the sandbox was recycled" in left["logs"] and "timer" in left["logs"]
    import time

    time.sleep(0.4)
    after = invoke(functions_api, "ts-timer", "nothing").json()["invocation"]
    assert after["status"] == "succeeded" and "LEFTOVER" not in after["logs"]


def test_a_bundle_import_map_is_merged_but_baas_stays_ours(functions_api) -> None:
    source = """
    import { onHttp, isDeclared } from "baas";
    import { greet } from "@lib/greet.ts";

    export const hello = onHttp(() => ({ greeting: greet("map"), real: typeof isDeclared === "function" }));
    """
    deno_json = '{"imports": {"@lib/": "./lib/", "baas": "./fake.ts"}}'
    fake = "export const onHttp = () => { throw new Error('not the real baas'); };\n"
    response = deploy_ts(
        functions_api, "mapped", source, extra={"lib/greet.ts": GREET_TS, "deno.json": deno_json, "fake.ts": fake}
    )
    assert response.status_code == 201, response.json()
    assert invoke(functions_api, "mapped", None).json()["result"] == {"greeting": "Hello, map!", "real": True}
