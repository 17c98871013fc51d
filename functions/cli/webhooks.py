"""`baas webhooks …`: outgoing webhooks from the command line (an HTTP client through the Python
SDK, like `baas functions`: the same --url / --key / `baas login`)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from baas_client import BaasError, create_async_client
from baas_client.webhooks_admin import WebhooksAdmin

from functions.cli import config, output

Handler = Callable[[WebhooksAdmin, argparse.Namespace], Awaitable[int]]
STATUSES = ("queued", "running", "succeeded", "retrying", "dead")


def main(argv: list[str]) -> int:
    """`argv` follows "webhooks"."""
    args = build_parser().parse_args(argv)
    target = config.resolve(args.url, args.key)
    if not target.key:
        output.fail("a service key is needed: `baas login URL` once, or --key KEY, or BAAS_SERVICE_KEY")
        return 2
    return asyncio.run(_run(args.handler, target, args))


async def _run(handler: Handler, target: config.Target, args: argparse.Namespace) -> int:
    client = create_async_client(target.url, service_key=target.key, retries=2)
    try:
        return await handler(WebhooksAdmin(client), args)
    except BaasError as error:
        output.error(error, target)
        return 1
    finally:
        await client.aclose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="baas webhooks",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Send a collection's or bucket's events to an HTTPS endpoint, signed (Standard Webhooks).",
        epilog="`baas webhooks COMMAND --help` shows a command's options and an example.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, example: str, handler: Handler) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=f"example:\n  {example}\n",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(handler=handler)
        group = p.add_argument_group("server")
        group.add_argument("--url", help="the server (default: BAAS_URL, `baas login`, http://127.0.0.1:8000)")
        group.add_argument("--key", help="a service key (default: BAAS_SERVICE_KEY, `baas login`)")
        return p

    p = command(
        "create",
        "Create a webhook; prints its signing secret (shown once).",
        "baas webhooks create orders-to-crm https://crm.example.com/hooks --collection orders --event document.created",
        _create,
    )
    p.add_argument("name")
    p.add_argument("endpoint", help="the https:// URL that receives the POSTs")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--collection", help="deliver this collection's document events")
    source.add_argument("--bucket", help="deliver this bucket's object events")
    p.add_argument("--prefix", help="with --bucket: only objects under this path prefix")
    p.add_argument("--event", action="append", dest="events", metavar="TYPE",
                   help="an event type to deliver (repeatable; default: all of the source)")  # fmt: skip
    p.add_argument("--filter", help="with --collection: a rules expression the document must match")
    p.add_argument("--max-retries", type=int, help="retries before a delivery is dead (default 8)")
    p.add_argument("--disabled", action="store_true", help="create it turned off")

    command("list", "List the webhooks.", "baas webhooks list", _list)

    p = command(
        "deliveries",
        "List a webhook's deliveries, newest first, with their last attempt.",
        "baas webhooks deliveries orders-to-crm --status dead",
        _deliveries,
    )
    p.add_argument("name")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    p.add_argument("--json", action="store_true", help="print the deliveries as JSON, with every attempt")

    p = command(
        "retry",
        "Send a dead (or delivered) delivery again.",
        "baas webhooks retry 0b6f1c9e-5d0a-4a43-9f0e-3f7d2f1a8c11",
        _retry,
    )
    p.add_argument("id", help="the delivery's id (from `deliveries`)")

    p = command("test", "Send a webhook.test delivery now.", "baas webhooks test orders-to-crm", _test)
    p.add_argument("name")

    p = command(
        "enable", "Turn a webhook on again (it gets events committed from now on).", "baas webhooks enable crm", _enable
    )
    p.add_argument("name")
    p = command("disable", "Turn a webhook off.", "baas webhooks disable orders-to-crm", _disable)
    p.add_argument("name")

    p = command(
        "rotate-secret",
        "Replace the signing secret; the old one still signs for a grace period (a day by default).",
        "baas webhooks rotate-secret orders-to-crm",
        _rotate,
    )
    p.add_argument("name")

    p = command("delete", "Delete a webhook and its deliveries.", "baas webhooks delete orders-to-crm", _delete)
    p.add_argument("name")
    return parser


def _source(hook: dict[str, Any]) -> str:
    source = hook["source"]
    if "collection" in source:
        return f"collection {source['collection']}"
    return f"bucket {source['bucket']}" + (f" ({source['prefix']}*)" if source.get("prefix") else "")


async def _create(admin: WebhooksAdmin, args: argparse.Namespace) -> int:
    hook = await admin.create(
        args.name,
        args.endpoint,
        collection=args.collection,
        bucket=args.bucket,
        prefix=args.prefix,
        events=args.events,
        filter=args.filter,
        max_retries=args.max_retries,
        enabled=not args.disabled,
    )
    print(f"created webhook {hook['name']}: {_source(hook)} → {hook['url']} ({', '.join(hook['events'])})")
    print(f"signing secret (shown once, keep it): {hook['secret']}")
    return 0


async def _list(admin: WebhooksAdmin, args: argparse.Namespace) -> int:
    hooks = await admin.list()
    if not hooks:
        print("no webhooks yet: `baas webhooks create NAME URL --collection C`")
        return 0
    rows = [[h["name"], "on" if h["enabled"] else "off", _source(h), ",".join(h["events"]), h["url"]] for h in hooks]
    output.table(rows, ["NAME", "STATE", "SOURCE", "EVENTS", "URL"])
    return 0


async def _deliveries(admin: WebhooksAdmin, args: argparse.Namespace) -> int:
    page = await admin.deliveries(args.name, status=args.status, limit=args.limit)
    if args.json:
        print(json.dumps(page["items"], indent=2))
        return 0
    rows = [
        [d["id"], d["type"], d["status"], str(d["attempts"]), str(d["status_code"] or "-"), d["error"] or ""]
        for d in page["items"]
    ]
    output.table(rows, ["ID", "TYPE", "STATUS", "ATTEMPTS", "HTTP", "ERROR"])
    return 0


async def _retry(admin: WebhooksAdmin, args: argparse.Namespace) -> int:
    delivery = await admin.retry(args.id)
    print(f"queued delivery {delivery['id']} again ({delivery['type']} to {delivery['webhook']})")
    return 0


async def _test(admin: WebhooksAdmin, args: argparse.Namespace) -> int:
    delivery = await admin.test(args.name)
    for _ in range(100):
        if delivery["status"] in ("succeeded", "dead"):
            break
        await asyncio.sleep(0.2)
        delivery = await admin.delivery(delivery["id"])
    last = delivery["history"][-1] if delivery["history"] else {}
    print(f"{delivery['status']}: HTTP {last.get('status_code') or '-'} {last.get('error') or ''}".rstrip())
    return 0 if delivery["status"] == "succeeded" else 1


async def _enable(admin: WebhooksAdmin, args: argparse.Namespace) -> int:
    await admin.update(args.name, enabled=True)
    print(f"webhook {args.name} is on")
    return 0


async def _disable(admin: WebhooksAdmin, args: argparse.Namespace) -> int:
    await admin.update(args.name, enabled=False)
    print(f"webhook {args.name} is off")
    return 0


async def _rotate(admin: WebhooksAdmin, args: argparse.Namespace) -> int:
    hook = await admin.rotate_secret(args.name)
    print(f"new signing secret (shown once): {hook['secret']}")
    print(f"the old one still signs until {hook['previous_secret_valid_until']}")
    return 0


async def _delete(admin: WebhooksAdmin, args: argparse.Namespace) -> int:
    await admin.delete(args.name)
    print(f"deleted webhook {args.name}")
    return 0
