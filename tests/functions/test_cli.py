"""`baas functions …` as a function author uses it: from a folder of their own, against a real
`baas dev`, with the key saved by `baas login`. Also the log stream (pushed, resumed across a
server restart), `baas functions dev`, the `init` templates' own tests, and `baas` commands run
outside a project folder."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BAAS_BIN, free_port
from tests.functions.cli_server import Server, fn, logged_in_shell, run, serving, start_server
from tests.platform.processes import RunningProcess, platform_env, wait_until

pytestmark = pytest.mark.slow

GREETER = textwrap.dedent(
    """
    import os
    from baas_runtime import on_http, logger

    @on_http
    def hello(event, ctx):
        payload = event["payload"] or {}
        logger.info("greeting %s", payload.get("name"))
        if payload.get("fail"):
            raise ValueError("asked to fail")
        return {"hello": payload.get("name"), "version": ctx.version, "token": os.environ.get("TOKEN")}
    """
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("fncli")) as running:
        yield running


@pytest.fixture
def laptop(tmp_path: Path, server: Server) -> dict[str, str]:
    return logged_in_shell(tmp_path, server)


def write_function(folder: Path, source: str = GREETER, **manifest: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(source)
    (folder / "baas.json").write_text(json.dumps({"name": folder.name, **manifest}))
    return folder


def test_every_subcommand_has_its_own_help_with_an_example(tmp_path: Path) -> None:
    env = platform_env(uuid.uuid4().hex)
    top = fn(["--help"], env, tmp_path)
    assert top.returncode == 0
    commands = [
        "init",
        "deploy",
        "list",
        "versions",
        "rollback",
        "delete",
        "invoke",
        "invocations",
        "retry",
        "logs",
        "secrets",
        "dev",
        "types",
    ]
    for command in commands:
        assert command in top.stdout
        shown = fn([command, "--help"], env, tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert f"example:\n  baas functions {command}" in shown.stdout
        # Its own options, not Django's.
        assert "--settings" not in shown.stdout and "--traceback" not in shown.stdout
    init_help = fn(["init", "--help"], env, tmp_path).stdout
    assert "--template {http,document,object,schedule}" in init_help and "--lang {py,ts}" in init_help
    assert "--follow" in fn(["logs", "--help"], env, tmp_path).stdout
    assert "--async" in fn(["invoke", "--help"], env, tmp_path).stdout
    assert "--status" in fn(["invocations", "--help"], env, tmp_path).stdout


def test_deploy_invoke_versions_rollback_and_delete(tmp_path: Path, laptop: dict[str, str], server: Server) -> None:
    assert "/console/" in server.process.text, "the banner names the console"
    folder = write_function(tmp_path / "greeter")

    deployed = fn(["deploy", str(folder)], laptop, tmp_path)
    assert deployed.returncode == 0, deployed.stderr
    assert re.search(r"deployed greeter version 1 in \d+ ms \(triggers: http\)", deployed.stdout)
    assert fn(["deploy", str(folder)], laptop, tmp_path).returncode == 0

    invoked = fn(["invoke", "greeter", "--data", '{"name": "ada"}'], laptop, tmp_path)
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["hello"] == "ada" and json.loads(invoked.stdout)["version"] == 2
    assert "greeting ada" in invoked.stderr

    queued = fn(["invoke", "greeter", "--async", "--data", '{"name": "bo"}'], laptop, tmp_path)
    assert queued.returncode == 0 and "queued invocation" in queued.stdout

    listed = fn(["list"], laptop, tmp_path)
    assert re.search(r"NAME\s+ACTIVE\s+RUNTIME\s+TRIGGERS", listed.stdout), listed.stdout
    assert re.search(r"greeter\s+v2\s+python\s+http", listed.stdout), listed.stdout
    versions = fn(["versions", "greeter"], laptop, tmp_path)
    assert re.search(r"\*v2\s+\S+\s+python\s", versions.stdout), versions.stdout
    assert re.search(r" v1\s+\S+\s+python\s", versions.stdout), versions.stdout

    rolled = fn(["rollback", "greeter", "1"], laptop, tmp_path)
    assert rolled.returncode == 0 and "now runs version 1" in rolled.stdout
    assert json.loads(fn(["invoke", "greeter", "--data", "{}"], laptop, tmp_path).stdout)["version"] == 1

    refused = fn(["delete", "greeter"], laptop, tmp_path)  # no terminal, no --yes: nothing deleted
    assert refused.returncode == 2 and "--yes" in refused.stderr
    deleted = fn(["delete", "greeter", "--yes"], laptop, tmp_path)
    assert deleted.returncode == 0 and "deleted greeter" in deleted.stdout
    gone = fn(["invoke", "greeter"], laptop, tmp_path)
    assert gone.returncode == 1 and "(not_found)" in gone.stderr
    assert not (tmp_path / ".baas").exists(), "the CLI leaves no data folder where it runs"


def test_a_failed_invocation_shows_its_traceback_and_can_be_listed_and_retried(
    tmp_path: Path, laptop: dict[str, str]
) -> None:
    folder = write_function(tmp_path / "failing")
    assert fn(["deploy", str(folder)], laptop, tmp_path).returncode == 0

    failed = fn(["invoke", "failing", "--data", '{"fail": true}'], laptop, tmp_path)
    assert failed.returncode == 1
    assert "ValueError: asked to fail" in failed.stderr and 'File "/function/main.py"' in failed.stderr
    assert fn(["invoke", "failing", "--data", '{"name": "ok"}'], laptop, tmp_path).returncode == 0

    listed = fn(["invocations", "failing", "--status", "failed"], laptop, tmp_path)
    assert listed.returncode == 0
    rows = [line for line in listed.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) == 1 and " failed " in rows[0], listed.stdout
    invocation_id = rows[0].split()[1]

    retried = fn(["retry", invocation_id], laptop, tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert f"queued {invocation_id} again" in retried.stdout


def test_secrets_are_set_listed_kept_by_a_deploy_and_unset(tmp_path: Path, laptop: dict[str, str]) -> None:
    folder = write_function(tmp_path / "keeper")
    assert fn(["deploy", str(folder)], laptop, tmp_path).returncode == 0

    done = fn(["secrets", "set", "keeper", "TOKEN=s3cret"], laptop, tmp_path)
    assert done.returncode == 0 and "secrets: TOKEN" in done.stdout, done.stderr
    assert fn(["secrets", "list", "keeper"], laptop, tmp_path).stdout.split() == ["TOKEN"]
    assert "s3cret" not in fn(["versions", "keeper"], laptop, tmp_path).stdout

    assert fn(["deploy", str(folder)], laptop, tmp_path).returncode == 0  # a new version of the code
    answer = json.loads(fn(["invoke", "keeper", "--data", "{}"], laptop, tmp_path).stdout)
    assert answer["token"] == "s3cret" and answer["version"] == 3

    assert fn(["secrets", "unset", "keeper", "TOKEN"], laptop, tmp_path).returncode == 0
    assert "keeper has no secrets" in fn(["secrets", "list", "keeper"], laptop, tmp_path).stdout
    assert json.loads(fn(["invoke", "keeper", "--data", "{}"], laptop, tmp_path).stdout)["token"] is None


def test_a_wrong_key_or_no_server_is_said_plainly(tmp_path: Path, laptop: dict[str, str]) -> None:
    wrong = fn(["list", "--key", "baas_sk_wrong"], laptop, tmp_path)
    assert wrong.returncode == 1 and "(token_invalid)" in wrong.stderr and "--key" in wrong.stderr
    elsewhere = f"http://127.0.0.1:{free_port()}"
    keyless = fn(["list", "--url", elsewhere], laptop, tmp_path)  # the saved key is for the saved server only
    assert keyless.returncode == 2 and "a service key is needed" in keyless.stderr
    nowhere = fn(["list", "--url", elsewhere, "--key", "baas_sk_any"], laptop, tmp_path)
    assert nowhere.returncode == 1 and "cannot reach" in nowhere.stderr and "baas dev" in nowhere.stderr
    assert "Traceback" not in wrong.stderr + nowhere.stderr


def test_one_log_stream_connection_carries_the_first_invocations_of_a_new_function(
    tmp_path: Path, laptop: dict[str, str], server: Server
) -> None:
    import httpx

    assert fn(["deploy", str(write_function(tmp_path / "fresh"))], laptop, tmp_path).returncode == 0
    headers = {"Authorization": f"Bearer {server.key}", "Accept": "text/event-stream"}
    seen: list[str] = []
    with httpx.stream("GET", f"{server.url}/v1/functions/fresh/logs", headers=headers, timeout=30) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == ": stream open"
        time.sleep(2)  # idle looks, and the late-commit look-back, before anything has run
        for name in ("one", "two"):
            assert fn(["invoke", "fresh", "--data", json.dumps({"name": name})], laptop, tmp_path).returncode == 0
        event = ""
        for line in lines:  # the same connection: a stream that ended would stop this loop
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "invocation":
                seen.append(json.loads(line[6:])["logs"])
            elif line.startswith("data: ") and event == "position":
                start = json.loads(line[6:])["cursor"]  # where it started: a reconnect resumes there
            if len(seen) == 2:
                break
    assert seen == ["INFO greeting one\n", "INFO greeting two\n"]
    # Resuming from the start position replays exactly those two, then (no follow) ends.
    resumed = httpx.get(
        f"{server.url}/v1/functions/fresh/logs",
        params={"cursor": start},
        headers={"Authorization": headers["Authorization"]},
    ).json()
    assert [item["logs"] for item in resumed["items"]] == seen


def test_dev_redeploys_on_save_streams_logs_and_shows_the_users_traceback(
    tmp_path: Path, laptop: dict[str, str]
) -> None:
    folder = write_function(tmp_path / "live")
    watcher = RunningProcess([BAAS_BIN, "functions", "dev", str(folder)], env=laptop, cwd=str(tmp_path))
    try:
        assert wait_until(lambda: "deployed live version 1" in watcher.text, timeout=60), watcher.text
        time.sleep(0.5)  # the log stream connects
        assert fn(["invoke", "live", "--data", '{"name": "first"}'], laptop, tmp_path).returncode == 0
        assert wait_until(lambda: "| INFO greeting first" in watcher.text, timeout=20), watcher.text

        (folder / "main.py").write_text(GREETER.replace("def hello(event, ctx):", "def hello(event, ctx)"))
        assert wait_until(lambda: "deploy failed" in watcher.text, timeout=20), watcher.text
        assert "SyntaxError" in watcher.text and "main.py" in watcher.text

        saved = time.monotonic()
        (folder / "main.py").write_text(GREETER.replace("greeting %s", "hi again %s"))
        assert wait_until(lambda: "deployed live version 2" in watcher.text, timeout=20), watcher.text
        print(f"save to redeployed: {time.monotonic() - saved:.2f} s")
        assert fn(["invoke", "live", "--data", '{"name": "second"}'], laptop, tmp_path).returncode == 0
        assert wait_until(lambda: "| INFO hi again second" in watcher.text, timeout=20), watcher.text
    finally:
        watcher.stop(signal.SIGINT)


def test_logs_follow_is_pushed_and_resumes_across_a_server_restart(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    env = platform_env(uuid.uuid4().hex, BAAS_URL=server.url, BAAS_SERVICE_KEY=server.key)
    env.pop("BAAS_DATA_DIR", None)
    follower = None
    try:
        assert fn(["deploy", str(write_function(tmp_path / "talker"))], env, tmp_path).returncode == 0
        assert fn(["invoke", "talker", "--data", '{"name": "before"}'], env, tmp_path).returncode == 0
        follower = RunningProcess([BAAS_BIN, "functions", "logs", "talker", "--follow"], env=env, cwd=str(tmp_path))
        assert wait_until(lambda: "greeting before" in follower.text, timeout=30), follower.text

        started = time.monotonic()
        assert fn(["invoke", "talker", "--data", '{"name": "during"}'], env, tmp_path).returncode == 0
        assert wait_until(lambda: "greeting during" in follower.text, timeout=10), follower.text
        print(f"invoke to log line: {time.monotonic() - started:.2f} s")

        server.process.stop(signal.SIGTERM)
        assert wait_until(lambda: "reconnecting" in follower.text, timeout=30), follower.text
        server.start()
        assert fn(["invoke", "talker", "--data", '{"name": "after"}'], env, tmp_path).returncode == 0
        assert wait_until(lambda: "greeting after" in follower.text, timeout=30), follower.text
        time.sleep(1.5)  # the resumed stream's look-back for late commits has run by now
        assert follower.process.poll() is None, "the follower outlived the restart"
        for name in ("before", "during", "after"):
            assert follower.text.count(f"greeting {name}") == 1, follower.text  # no gap, no repeat
    finally:
        if follower is not None:
            follower.stop(signal.SIGINT)
        server.process.stop(signal.SIGTERM)


@pytest.mark.parametrize("template", ["http", "document", "object", "schedule"])
def test_an_init_template_and_its_own_test_pass_out_of_the_box(tmp_path: Path, template: str) -> None:
    env = platform_env(uuid.uuid4().hex)
    started = time.monotonic()
    created = fn(["init", f"my-{template}", "--template", template], env, tmp_path)
    assert created.returncode == 0, created.stderr
    folder = tmp_path / f"my-{template}"
    assert {"main.py", "baas.json", "test_main.py", "conftest.py"} <= {p.name for p in folder.iterdir()}
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "passed" in tested.stdout
    print(f"init to a passing test ({template}): {time.monotonic() - started:.1f} s")


def test_commands_outside_a_project_say_which_data_folder_they_looked_for(tmp_path: Path) -> None:
    env = platform_env(uuid.uuid4().hex)
    env.pop("BAAS_DATA_DIR", None)
    listed = run(["keys", "list"], env, tmp_path)
    assert listed.returncode == 2
    assert str(tmp_path / ".baas") in listed.stderr and "--data-dir" in listed.stderr
    assert "Traceback" not in listed.stderr
    assert not (tmp_path / ".baas").exists(), "no empty data folder is left behind"

    elsewhere = run(["keys", "list"], {**env, "BAAS_DATA_DIR": str(tmp_path / "nope")}, tmp_path)
    assert elsewhere.returncode == 2 and "BAAS_DATA_DIR" in elsewhere.stderr
    assert not (tmp_path / "nope").exists()
