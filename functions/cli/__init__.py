"""`baas functions …` and `baas login`: the function author's command line.

An HTTP client of a baas server through the Python SDK (`baas_client`) — no Django, no data
folder — so it runs from any folder of a laptop. The server is `--url` / BAAS_URL / the file of
`baas login` (functions/cli/config.py), the credentials a service key (`--key` /
BAAS_SERVICE_KEY / the same file). Every subcommand has its own `--help` with an example.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from baas_client import BaasError, create_async_client
from baas_client.functions_admin import FunctionsAdmin

from functions.cli import config, output, templates, templates_ts, types

Handler = Callable[[FunctionsAdmin, argparse.Namespace], Awaitable[int]]


def main(argv: list[str]) -> int:
    """`argv` starts with "functions", "webhooks" or "login"."""
    if argv[0] == "login":
        return _login(argv[1:])
    if argv[0] == "webhooks":
        from functions.cli import webhooks

        return webhooks.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv[1:])
    if args.command == "init":
        return _init(args)
    if args.command == "types":
        return _types(args)
    target = config.resolve(args.url, args.key)
    if not target.key:
        output.fail(
            "a service key is needed: `baas login URL` once, or --key KEY, or BAAS_SERVICE_KEY "
            "(`baas dev` prints one on its first start; `baas keys create NAME` makes more)"
        )
        return 2
    try:
        return asyncio.run(_run(args.handler, target, args))
    except KeyboardInterrupt:
        return 130


async def _run(handler: Handler, target: config.Target, args: argparse.Namespace) -> int:
    client = create_async_client(target.url, service_key=target.key, retries=2, timeout=330)
    try:
        return await handler(FunctionsAdmin(client), args)
    except BaasError as error:
        output.error(error, target)
        return 1
    finally:
        await client.aclose()


# --- the parser ---------------------------------------------------------------------------------------
class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


def _connection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server")
    group.add_argument("--url", help="the server (default: BAAS_URL, `baas login`, http://127.0.0.1:8000)")
    group.add_argument("--key", help="a service key (default: BAAS_SERVICE_KEY, `baas login`)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="baas functions",
        formatter_class=_Formatter,
        description="Write, test, deploy and watch functions on a baas server.",
        epilog="Start here (TypeScript; --lang py for Python, then `pytest`):\n"
        "  baas functions init hello --lang ts && cd hello && deno test\n  baas functions dev .\n\n"
        "`baas functions COMMAND --help` shows a command's options and an example.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, example: str, handler: Handler | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=summary, description=summary, epilog=f"example:\n  {example}\n", formatter_class=_Formatter
        )
        p.set_defaults(handler=handler)
        if handler is not None:
            _connection(p)
        return p

    from functions.cli import actions, devloop

    p = command(
        "init",
        "Create a function folder: handler, manifest (baas.json) and a passing test.",
        "baas functions init thumbnails --lang ts --template object",
    )
    p.add_argument("name", help="the function's name (and its folder's)")
    p.add_argument(
        "--lang",
        choices=("py", "ts"),
        default="py",
        help="py (main.py, tested with pytest on a real platform) or ts (main.ts, tested with "
        "`deno test` on an in-memory one); default py",
    )
    p.add_argument(
        "--template",
        choices=templates.TEMPLATES,
        default="http",
        help="http (called by apps), document, object (triggers), schedule; default http",
    )
    p.add_argument("--dir", type=Path, default=Path("."), help="where to create the folder (default: here)")

    p = command(
        "types",
        "Refresh a TypeScript function's copy of the `baas` module (.baas-ts/) and its deno.json "
        "import map, after upgrading baas.",
        "baas functions types ./hello",
    )
    p.add_argument("folder", type=Path, nargs="?", default=Path("."), help="the function's folder (default: here)")

    p = command(
        "deploy",
        "Bundle a folder (or take one pre-bundled file, e.g. esbuild's dist/main.js) and make it the "
        "function's new active version.",
        "baas functions deploy ./hello --secret STRIPE_KEY=sk_test_123\n"
        "  baas functions deploy dist/main.js --name hello",
        actions.deploy,
    )
    p.add_argument("folder", type=Path, help="the function's folder, or one .ts/.mts/.js/.mjs/.py file")
    p.add_argument(
        "--name", help="the function's name (default: baas.json's name, else the folder's; required for one file)"
    )
    p.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="the secrets of this version (repeatable; replaces the earlier ones). "
        "Without it, the secrets set before are kept",
    )

    command(
        "list",
        "List the deployed functions with their active version and triggers.",
        "baas functions list",
        actions.list_functions,
    )

    p = command(
        "versions",
        "List a function's versions, newest first (* marks the active one).",
        "baas functions versions hello",
        actions.versions,
    )
    p.add_argument("name")

    p = command(
        "rollback", "Make an earlier version the active one again.", "baas functions rollback hello 3", actions.rollback
    )
    p.add_argument("name")
    p.add_argument("version", type=int)

    p = command(
        "delete",
        "Delete a function, every version and invocation of it.",
        "baas functions delete hello --yes",
        actions.delete,
    )
    p.add_argument("name")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    p = command(
        "invoke",
        "Call the function's @on_http handler and print its result.",
        """baas functions invoke hello --data '{"name": "Ada"}'""",
        actions.invoke,
    )
    p.add_argument("name")
    p.add_argument("--data", default="null", metavar="JSON", help="the payload (event['payload']), as JSON")
    p.add_argument(
        "--async", dest="run_async", action="store_true", help="do not wait: print the queued invocation's id"
    )

    p = command(
        "invocations",
        "List a function's invocations, newest first.",
        "baas functions invocations hello --status dead",
        actions.invocations,
    )
    p.add_argument("name")
    p.add_argument("--status", choices=("queued", "running", "succeeded", "failed", "retrying", "dead"))
    p.add_argument("--limit", type=int, default=20, help="how many (default 20, at most 100)")

    p = command(
        "retry",
        "Queue a dead or failed invocation again.",
        "baas functions retry 0b6f3c1e-8d2a-4e55-9a7b-2f1d1f0a9c11",
        actions.retry,
    )
    p.add_argument("id", help="the invocation's id (from `invocations`)")

    p = command(
        "logs",
        "Show a function's recent invocations with their logs; --follow streams new ones.",
        "baas functions logs hello --follow",
        actions.logs,
    )
    p.add_argument("name")
    p.add_argument(
        "--follow", "-f", action="store_true", help="keep streaming (pushed by the server; survives a server restart)"
    )
    p.add_argument("--tail", type=int, default=10, help="how many recent ones to show first (default 10)")

    p = command(
        "secrets",
        "Set, remove or list a function's secrets (os.environ in the function).",
        "baas functions secrets set hello STRIPE_KEY=sk_test_123",
        actions.secrets,
    )
    p.add_argument("action", choices=("set", "unset", "list"))
    p.add_argument("name")
    p.add_argument("values", nargs="*", metavar="NAME=VALUE | NAME", help="set: NAME=VALUE pairs; unset: names")

    p = command(
        "dev",
        "Watch a folder: redeploy on every save, stream every invocation's logs.",
        "baas functions dev ./hello",
        devloop.dev,
    )
    p.add_argument("folder", type=Path)
    p.add_argument("--name", help="the function's name (default: baas.json's name, else the folder's)")
    return parser


# --- init and login (no server needed) ----------------------------------------------------------------
def _init(args: argparse.Namespace) -> int:
    if not re.match(r"^[a-z][a-z0-9_-]{0,62}$", args.name):
        output.fail(f"{args.name!r}: a function's name is a lowercase letter, then lowercase letters, digits, - or _")
        return 2
    folder: Path = args.dir / args.name
    if folder.exists() and any(folder.iterdir()):
        output.fail(f"{folder} exists and is not empty; choose another name or --dir")
        return 1
    folder.mkdir(parents=True, exist_ok=True)
    typescript = args.lang == "ts"
    files = (templates_ts if typescript else templates).files_of(args.template, args.name)
    for relative, text in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text, encoding="utf-8")
    if typescript:
        print(f"created {folder}/ ({args.template} template): main.ts, main_test.ts, baas.json, deno.json, .baas-ts/")
        print(f"next:\n  cd {folder}\n  deno test                   # runs main_test.ts against an in-memory platform")
    else:
        print(f"created {folder}/ ({args.template} template): main.py, baas.json, test_main.py, conftest.py")
        print(f"next:\n  cd {folder}\n  pytest                      # runs it on a real platform, in the sandbox")
    print("  baas functions dev .        # with `baas dev` running: redeploy on save, live logs")
    print("  baas functions deploy .")
    return 0


def _types(args: argparse.Namespace) -> int:
    folder: Path = args.folder
    if not folder.is_dir():
        output.fail(f"{folder} is not a folder")
        return 2
    try:
        changed = types.refresh(folder)
    except ValueError as error:
        output.fail(str(error))
        return 1
    print(f"updated {', '.join(changed)}" if changed else f"{folder}/{types.FOLDER} is up to date")
    return 0


def _login(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="baas login",
        formatter_class=_Formatter,
        description="Remember a server and its service key for `baas functions` (in "
        f"{config.config_path()}, readable by you only).",
        epilog="example:\n  baas login http://127.0.0.1:8000 --key baas_sk_...",
    )
    parser.add_argument("url", help="the server's address, e.g. http://127.0.0.1:8000")
    parser.add_argument("--key", help="a service key (asked for when left out)")
    args = parser.parse_args(argv)
    key = args.key or getpass.getpass("service key: ").strip()
    if not key:
        output.fail("no key given")
        return 2

    async def check() -> int:
        client = create_async_client(args.url, service_key=key, retries=1)
        try:
            await FunctionsAdmin(client).list()
        except BaasError as error:
            output.error(error, config.Target(args.url.rstrip("/"), key, "the command line", "the command line"))
            return 1
        finally:
            await client.aclose()
        return 0

    if asyncio.run(check()):
        return 1
    path = config.write_config(args.url, key)
    print(f"logged in to {args.url.rstrip('/')} (saved in {path})")
    return 0


__all__ = ["build_parser", "main"]
if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
