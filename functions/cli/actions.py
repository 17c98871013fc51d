"""The subcommands that talk to the server: each takes the admin API and its parsed arguments and
returns the exit status (0 done, 1 the server or the function said no)."""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from baas_client import BaasError
from baas_client.functions_admin import (
    MANIFEST,
    Bundle,
    FunctionsAdmin,
    FunctionVersion,
    bundle_folder,
    read_manifest,
    runtime_of,
)

from functions.cli import output

UNSANDBOXED_WARNING = (
    "WARNING: this server runs functions WITHOUT a sandbox (BAAS_SANDBOX=unsafe-local): the code runs as the "
    "server's own user and can read and change its files. Install bubblewrap for isolation."
)


def _pairs(values: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for item in values:
        if "=" not in item:
            raise BaasError("invalid_argument", f"{what} must be NAME=VALUE, not {item!r}")
        name, value = item.split("=", 1)
        pairs[name] = value
    return pairs


# One file may be deployed alone: a pre-bundled module (e.g. esbuild's dist/main.js) or a one-file function.
SINGLE_FILE_SUFFIXES = (".ts", ".mts", ".js", ".mjs", ".py")


def bundle_file(path: Path, *, name: str | None) -> Bundle:
    """A bundle of one file, its name kept and made the entry. `--name` is needed (a pre-bundled
    `main.js` says nothing about the function's name); a `baas.json` beside the file gives the other
    deploy settings, as for a folder."""
    if path.suffix not in SINGLE_FILE_SUFFIXES:
        raise BaasError(
            "invalid_request", f"{path}: a single file must be {', '.join(SINGLE_FILE_SUFFIXES)}, or deploy a folder."
        )
    if not name:
        raise BaasError("invalid_request", f"deploying the single file {path} needs --name NAME.")
    config = read_manifest(path.parent / MANIFEST)
    config.update(name=name, entry=path.name)
    config.pop("runtime", None)  # the file's extension says which
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, path.name)
    return Bundle(config, buffer.getvalue(), [path.name])


async def deploy_folder(
    admin: FunctionsAdmin, folder: Any, name: str | None, secrets: dict[str, str]
) -> FunctionVersion:
    """Bundle (a folder, or one file) and deploy; prints one line (or the user's traceback, raising
    the error)."""
    started = time.monotonic()
    bundle = bundle_file(Path(folder), name=name) if Path(folder).is_file() else bundle_folder(folder, name=name)
    print(f"bundled {len(bundle.files)} files ({len(bundle.archive)} bytes)", file=sys.stderr)
    version = await admin.deploy(bundle, secrets=secrets or None)
    took = round((time.monotonic() - started) * 1000)
    print(
        f"deployed {version['function']} version {version['version']} in {took} ms "
        f"(triggers: {output.triggers_of(version)})"
    )
    if version.get("sandbox") == "unsafe-local":
        print(UNSANDBOXED_WARNING, file=sys.stderr)
    return version


async def deploy(admin: FunctionsAdmin, args: argparse.Namespace) -> int:
    await deploy_folder(admin, args.folder, args.name, _pairs(args.secret, "--secret"))
    return 0


async def list_functions(admin: FunctionsAdmin, args: argparse.Namespace) -> int:
    functions = await admin.list()
    if not functions:
        print("no functions yet: `baas functions init NAME`, then `baas functions deploy NAME`")
        return 0
    rows = []
    for function in functions:
        active = function.get("active_version") or {}
        rows.append(
            [
                function["name"],
                f"v{active.get('version', '-')}",
                runtime_of(function),
                output.triggers_of(active),
            ]
        )
    output.table(rows, ["NAME", "ACTIVE", "RUNTIME", "TRIGGERS"])
    return 0


async def versions(admin: FunctionsAdmin, args: argparse.Namespace) -> int:
    rows = []
    for v in await admin.versions(args.name):
        mark = "*" if v.get("active") else " "
        created = v.get("created_at", "")[:19]
        rows.append([f"{mark}v{v['version']}", created, runtime_of(v), f"{v.get('size', 0)} B", output.triggers_of(v)])
    output.table(rows, [" VERSION", "CREATED", "RUNTIME", "SIZE", "TRIGGERS"])
    return 0


async def rollback(admin: FunctionsAdmin, args: argparse.Namespace) -> int:
    function = await admin.rollback(args.name, args.version)
    print(f"{function['name']} now runs version {(function.get('active_version') or {}).get('version', args.version)}")
    return 0


async def delete(admin: FunctionsAdmin, args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            output.fail("deleting needs --yes when not run from a terminal")
            return 2
        answer = input(f"Delete {args.name}, all its versions and invocations? Type its name to confirm: ")
        if answer.strip() != args.name:
            print("not deleted")
            return 1
    await admin.delete(args.name)
    print(f"deleted {args.name}")
    return 0


async def invoke(admin: FunctionsAdmin, args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.data)
    except ValueError as error:
        raise BaasError("invalid_argument", f"--data must be JSON: {error}") from None
    started = time.monotonic()
    answer = await admin.invoke(args.name, payload, async_=args.run_async)
    item = answer["invocation"]
    if args.run_async:
        print(f"queued invocation {item['id']}: `baas functions logs {args.name} --follow` shows its end")
        return 0
    if item.get("logs"):
        print(item["logs"].rstrip("\n"), file=sys.stderr)
    if item["status"] != "succeeded":
        output.fail(f"the invocation {item['status']} (id {item['id']})")
        if item.get("error"):
            output.user_error(item["error"])
        return 1
    print(json.dumps(answer.get("result"), indent=2))
    print(f"({round((time.monotonic() - started) * 1000)} ms, ran {item.get('duration_ms')} ms)", file=sys.stderr)
    return 0


async def invocations(admin: FunctionsAdmin, args: argparse.Namespace) -> int:
    page = await admin.invocations(args.name, status=args.status, limit=args.limit)
    rows = [
        [
            i["created_at"][:19],
            i["id"],
            f"v{i['version']}",
            i["status"],
            i["trigger"],
            str(i["attempts"]),
            f"{i['duration_ms']} ms" if i.get("duration_ms") is not None else "-",
            (i.get("error") or {}).get("code", ""),
        ]
        for i in page["items"]
    ]
    if not rows:
        print("no invocations" + (f" with status {args.status}" if args.status else ""))
    output.table(rows, ["CREATED", "ID", "VERSION", "STATUS", "TRIGGER", "ATTEMPTS", "RAN", "ERROR"])
    return 0


async def retry(admin: FunctionsAdmin, args: argparse.Namespace) -> int:
    item = await admin.retry(args.id)
    print(f"queued {item['id']} again ({item['function']} v{item['version']}, attempt {item['attempts'] + 1})")
    return 0


async def logs(admin: FunctionsAdmin, args: argparse.Namespace) -> int:
    def state(change: str) -> None:
        if change == "disconnected":
            print("… server unreachable, reconnecting (the stream resumes where it stopped)", file=sys.stderr)
        else:
            print("… reconnected", file=sys.stderr)

    async for item in admin.logs(args.name, tail=args.tail, follow=args.follow, on_state=state):
        output.invocation(item)
    return 0


async def secrets(admin: FunctionsAdmin, args: argparse.Namespace) -> int:
    if args.action == "list":
        names = await admin.secrets(args.name)
        print("\n".join(names) if names else f"{args.name} has no secrets")
        return 0
    if not args.values:
        output.fail(f"name the secrets to {args.action}")
        return 2
    if args.action == "set":
        version = await admin.update_secrets(args.name, set=_pairs(args.values, "a secret"))
    else:
        version = await admin.update_secrets(args.name, unset=list(args.values))
    names = ", ".join(version.get("secrets", [])) or "none"
    print(f"{args.name} version {version['version']} is live with secrets: {names}")
    return 0
