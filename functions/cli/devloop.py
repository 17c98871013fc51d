"""`baas functions dev DIR`: redeploy on every save and stream every invocation's logs.

The folder is looked at every 100 ms (mtime and size of what a deploy would bundle: no watcher
library, works on every file system) — for a TypeScript function its `.ts`/`.mts`/`.js`/`.mjs`
files and `deno.json` as much as `.py` files, never its tests or `.baas-ts/` (`watched_files`
skips them as `bundle_folder` does); a change waits 50 ms more for the editor to finish writing,
then deploys. A deploy that fails shows the user's traceback and keeps the last good version
running. The logs come from the server's push stream (`GET /v1/functions/{name}/logs`), resumed
across reconnects and server restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time

from baas_client import BaasError
from baas_client.functions_admin import FunctionsAdmin, bundle_folder, watched_files

from functions.cli import actions, output

LOOK_EVERY = 0.1
SETTLE = 0.05


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def dev(admin: FunctionsAdmin, args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        output.fail(f"{args.folder} is not a folder")
        return 2
    name = bundle_folder(args.folder, name=args.name).name
    _say(f"watching {args.folder.resolve()} as function {name!r} on {admin.url} (Ctrl-C to stop)")
    await _deploy(admin, args)
    logs = asyncio.create_task(_stream_logs(admin, name))
    seen = watched_files(args.folder)
    try:
        while True:
            await asyncio.sleep(LOOK_EVERY)
            now = watched_files(args.folder)
            if now == seen:
                continue
            await asyncio.sleep(SETTLE)
            before, seen = seen, watched_files(args.folder)
            changed = sorted(k for k in set(before) | set(seen) if before.get(k) != seen.get(k))
            _say(f"changed: {', '.join(changed[:5]) or 'files'} — deploying")
            await _deploy(admin, args)
    finally:
        logs.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await logs


async def _deploy(admin: FunctionsAdmin, args: argparse.Namespace) -> bool:
    try:
        await actions.deploy_folder(admin, args.folder, args.name, {})
        return True
    except BaasError as error:
        if error.code == "network_error":
            _say(f"cannot reach {admin.url}: start the server with `baas dev` (retrying on the next save)")
            return False
        _say(f"deploy failed: {error.message} ({error.code}); the last good version keeps running")
        output.error(error, _NoTarget())
        return False


async def _stream_logs(admin: FunctionsAdmin, name: str) -> None:
    """Every invocation that ends from now on, for as long as `dev` runs."""
    while True:
        try:
            async for item in admin.logs(name, tail=0, follow=True, on_state=_connection_state):
                output.invocation(item)
        except BaasError as error:
            if error.code != "not_found":
                _say(f"log stream: {error.message} ({error.code})")
        await asyncio.sleep(1.0)  # not deployed yet (or deleted): look again


def _connection_state(change: str) -> None:
    _say("server unreachable, reconnecting…" if change == "disconnected" else "reconnected; streaming logs again")


class _NoTarget:
    url = url_from = key_from = ""
