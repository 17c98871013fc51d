"""A TypeScript function from `baas functions init --lang ts` to a running function, the way an
author goes: the template's own `deno test` passes offline, `baas functions deploy` puts it on a
real `baas dev` (real bubblewrap sandbox, runtime deno), and it works there — the HTTP handler
answers `invoke`, the document trigger writes its total for a document created through the API,
the object trigger summarises an upload, the schedule is listed with its trigger. Also
`baas functions dev` on a `.ts` folder (redeploy on save; a type error shows file, line and
column) and a handler that throws (the owner sees the author's `main.ts:<line>`)."""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BAAS_BIN
from tests.functions.cli_server import Server, fn, logged_in_shell, serving
from tests.functions_cli.deno_tools import run_deno
from tests.platform.processes import RunningProcess, http, wait_until

pytestmark = pytest.mark.slow

TRIGGERS = {
    "http": "http",
    "document": "document.created(orders)",
    "object": "object.created(uploads)",
    "schedule": "schedule(every 3600 s)",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("tscli")) as running:
        yield running


@pytest.fixture
def laptop(tmp_path: Path, server: Server) -> dict[str, str]:
    return logged_in_shell(tmp_path, server)


def init_ts(tmp: Path, env: dict[str, str], template: str, name: str) -> Path:
    created = fn(["init", name, "--lang", "ts", "--template", template], env, tmp)
    assert created.returncode == 0, created.stderr
    return tmp / name


def deploy(folder: Path, env: dict[str, str], cwd: Path) -> str:
    deployed = fn(["deploy", str(folder)], env, cwd)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    return deployed.stdout


def api(server: Server, method: str, path: str, body: object = None) -> object:
    status, answer = http(method, f"{server.url}{path}", token=server.key, body=body)
    assert status < 300, (status, answer)
    return answer


def found(server: Server, path: str) -> object | None:
    status, answer = http("GET", f"{server.url}{path}", token=server.key)
    return answer if status == 200 else None


@pytest.mark.parametrize("template", ["http", "document", "object", "schedule"])
def test_a_typescript_template_tests_deploys_and_runs(
    tmp_path: Path, laptop: dict[str, str], server: Server, template: str
) -> None:
    name = f"ts-{template}"
    started = time.monotonic()
    folder = init_ts(tmp_path, laptop, template, name)
    tested = run_deno(["test"], folder, tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert re.search(r"ok \| [1-9]\d* passed \| 0 failed", tested.stdout), tested.stdout
    tested_at = time.monotonic()

    deployed = deploy(folder, laptop, tmp_path)
    assert f"deployed {name} version 1" in deployed and f"(triggers: {TRIGGERS[template]})" in deployed, deployed
    print(
        f"{template}: init to a passing deno test {tested_at - started:.1f} s, "
        f"to deployed {time.monotonic() - started:.1f} s"
    )
    listed = fn(["list"], laptop, tmp_path).stdout
    assert re.search(rf"{name}\s+v1\s+deno\s+{re.escape(TRIGGERS[template])}", listed), listed
    assert re.search(r"\*v1\s+\S+\s+deno\s", fn(["versions", name], laptop, tmp_path).stdout)
    RUNS[template](tmp_path, laptop, server, name)


def runs_http(tmp: Path, env: dict[str, str], server: Server, name: str) -> None:
    invoked = fn(["invoke", name, "--data", '{"name": "Ada"}'], env, tmp)
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout) == {"message": "Hello, Ada!", "version": 1}
    assert "INFO greeting Ada" in invoked.stderr


def runs_document(tmp: Path, env: dict[str, str], server: Server, name: str) -> None:
    api(server, "POST", "/v1/db/collections", {"name": "orders"})
    api(server, "POST", "/v1/db/collections", {"name": "order_totals"})
    order = api(
        server, "POST", "/v1/db/orders", {"data": {"lines": [{"price": 3, "quantity": 2}, {"price": 5, "quantity": 1}]}}
    )
    key = order["id"]  # type: ignore[index]
    assert wait_until(lambda: found(server, f"/v1/db/order_totals/{key}") is not None, timeout=90)
    assert found(server, f"/v1/db/order_totals/{key}")["data"] == {"order": key, "total": 11}  # type: ignore[index]

    listed = fn(["invocations", name], env, tmp)
    rows = [line for line in listed.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) == 1 and re.search(r" v1\s+succeeded\s+document\.created", rows[0]), listed.stdout
    logs = fn(["logs", name], env, tmp)
    assert logs.returncode == 0, logs.stderr
    assert f"| INFO order {key} totals 11" in logs.stdout, logs.stdout


def runs_object(tmp: Path, env: dict[str, str], server: Server, name: str) -> None:
    api(server, "POST", "/v1/storage/buckets", {"name": "uploads"})
    api(server, "POST", "/v1/db/collections", {"name": "file_summaries"})
    put = urllib.request.Request(
        f"{server.url}/v1/storage/objects/uploads/inbox/notes.txt",
        data=b"one two\nthree\n",
        method="PUT",
        headers={"Authorization": f"Bearer {server.key}", "Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(put, timeout=30) as answer:
        assert answer.status == 201

    def summaries() -> list[dict[str, object]]:
        return found(server, "/v1/db/file_summaries")["items"]  # type: ignore[index]

    assert wait_until(lambda: len(summaries()) == 1, timeout=90), fn(["invocations", name], env, tmp).stdout
    assert summaries()[0]["data"] == {"path": "inbox/notes.txt", "lines": 2, "words": 3}


def runs_schedule(tmp: Path, env: dict[str, str], server: Server, name: str) -> None:
    """Hourly is too slow for a test: the same code every 2 s, fired by `baas dev`'s own beat."""
    api(server, "POST", "/v1/db/collections", {"name": "sessions"})
    expired = api(server, "POST", "/v1/db/sessions", {"data": {"expires_at": int(time.time()) - 60}})
    fresh = api(server, "POST", "/v1/db/sessions", {"data": {"expires_at": int(time.time()) + 3600}})
    main_ts = tmp / name / "main.ts"
    main_ts.write_text(main_ts.read_text().replace("{ every: 3600 }", "{ every: 2 }"))
    assert "(triggers: schedule(every 2 s))" in deploy(tmp / name, env, tmp)

    assert wait_until(lambda: found(server, f"/v1/db/sessions/{expired['id']}") is None, timeout=90), (  # type: ignore[index]
        fn(["invocations", name], env, tmp).stdout
    )
    assert found(server, f"/v1/db/sessions/{fresh['id']}") is not None  # type: ignore[index]
    logs = fn(["logs", name], env, tmp).stdout
    assert re.search(r" v2 SUCCEEDED · schedule", logs) and "| INFO removed 1 expired sessions" in logs, logs
    fn(["delete", name, "--yes"], env, tmp)  # its beat entry goes with it


RUNS = {"http": runs_http, "document": runs_document, "object": runs_object, "schedule": runs_schedule}


def test_dev_redeploys_a_typescript_function_on_save_and_shows_where_a_type_error_is(
    tmp_path: Path, laptop: dict[str, str]
) -> None:
    folder = init_ts(tmp_path, laptop, "http", "ts-live")
    main_ts = folder / "main.ts"
    source = main_ts.read_text()
    watcher = RunningProcess([BAAS_BIN, "functions", "dev", str(folder)], env=laptop, cwd=str(tmp_path))
    try:
        assert wait_until(lambda: "deployed ts-live version 1" in watcher.text, timeout=120), watcher.text
        time.sleep(0.5)  # the log stream connects
        assert fn(["invoke", "ts-live", "--data", '{"name": "first"}'], laptop, tmp_path).returncode == 0
        assert wait_until(lambda: "| INFO greeting first" in watcher.text, timeout=30), watcher.text

        broken = source.replace("const name = payload.name", "const name: number = payload.name")
        line = broken.splitlines().index(next(x for x in broken.splitlines() if "const name: number" in x)) + 1
        main_ts.write_text(broken)
        assert wait_until(lambda: "deploy failed" in watcher.text, timeout=120), watcher.text
        column = broken.splitlines()[line - 1].index("name: number") + 1
        assert "changed: main.ts — deploying" in watcher.text, watcher.text
        assert f"type-check: main.ts:{line}:{column}: Type 'string' is not assignable" in watcher.text
        # Every diagnostic from the server's details, where it is, as `deno check` would say it.
        assert f"  main.ts:{line}:{column}: Type 'string' is not assignable to type 'number'. (TS2322)" in watcher.text
        assert "ts-live version 2" not in watcher.text

        saved = time.monotonic()
        main_ts.write_text(source.replace("greeting ${name}", "hi again ${name}"))
        assert wait_until(lambda: "deployed ts-live version 2" in watcher.text, timeout=120), watcher.text
        print(f"TypeScript save to redeployed: {time.monotonic() - saved:.2f} s")
        assert fn(["invoke", "ts-live", "--data", '{"name": "second"}'], laptop, tmp_path).returncode == 0
        assert wait_until(lambda: "| INFO hi again second" in watcher.text, timeout=30), watcher.text
    finally:
        watcher.stop(signal.SIGINT)


def test_a_typescript_handler_that_throws_shows_the_owner_its_main_ts_line(
    tmp_path: Path, laptop: dict[str, str]
) -> None:
    folder = init_ts(tmp_path, laptop, "http", "ts-thrower")
    main_ts = folder / "main.ts"
    lines = main_ts.read_text().splitlines()
    at = next(i for i, x in enumerate(lines) if "const name =" in x) + 1
    lines.insert(at, '  if (payload.name === "boom") throw new RangeError("asked to fail");')
    main_ts.write_text("\n".join(lines) + "\n")
    deploy(folder, laptop, tmp_path)

    failed = fn(["invoke", "ts-thrower", "--data", '{"name": "boom"}'], laptop, tmp_path)
    assert failed.returncode == 1, failed.stdout
    assert "RangeError: asked to fail" in failed.stderr, failed.stderr
    assert re.search(rf"main\.ts:{at + 1}:\d+", failed.stderr), failed.stderr
    assert "runtime.ts" not in failed.stderr and "ext:" not in failed.stderr, failed.stderr

    logs = fn(["logs", "ts-thrower"], laptop, tmp_path).stdout
    assert re.search(rf"! .*main\.ts:{at + 1}:\d+", logs), logs


def test_an_authors_own_import_map_entry_and_node_builtins_work_in_deno_test_and_deployed(
    tmp_path: Path, laptop: dict[str, str]
) -> None:
    folder = init_ts(tmp_path, laptop, "http", "ts-mapped")
    config = json.loads((folder / "deno.json").read_text())
    config["imports"]["@lib/"] = "./lib/"
    (folder / "deno.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "lib").mkdir()
    (folder / "lib" / "shout.ts").write_text(
        'import { Buffer } from "node:buffer";\n\n'
        "export const shout = (text: string): string => Buffer.from(text.toUpperCase()).toString();\n"
    )
    main_ts = folder / "main.ts"
    main_ts.write_text(
        'import { shout } from "@lib/shout.ts";\n'
        + main_ts.read_text().replace("`Hello, ${name}!`", "shout(`Hello, ${name}!`)")
    )
    test_ts = folder / "main_test.ts"
    test_ts.write_text(
        test_ts.read_text().replace('"Hello, Ada!"', '"HELLO, ADA!"').replace('"Hello, world!"', '"HELLO, WORLD!"')
    )
    tested = run_deno(["test"], folder, tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr

    assert "(triggers: http)" in deploy(folder, laptop, tmp_path)
    invoked = fn(["invoke", "ts-mapped", "--data", '{"name": "Ada"}'], laptop, tmp_path)
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["message"] == "HELLO, ADA!"
