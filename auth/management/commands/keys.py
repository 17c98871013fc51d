"""`baas keys create NAME | list | revoke NAME`: service keys from the command line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from auth import selectors, services
from baas.errors import ApiError


class Command(BaseCommand):
    help = "Create, list and revoke service keys."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create a key; prints its secret alone on stdout.")
        create.add_argument("name")
        actions.add_parser("list", help="List active keys (never their secrets).")
        revoke = actions.add_parser("revoke", help="Revoke the active key of that name.")
        revoke.add_argument("name")
        actions.add_parser("bootstrap", help="Create the first key if none exists and print it (used by `baas dev`).")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, f"_{action}")(**options)
        except ApiError as exc:
            raise CommandError(f"{exc.message} {exc.details or ''}".strip()) from None

    def _create(self, name: str, **_: Any) -> None:
        _, secret = services.create_service_key(name=name)
        self.stdout.write(secret)

    def _list(self, **_: Any) -> None:
        keys = selectors.active_service_keys(limit=10_000)
        if not keys:
            self.stdout.write("no active service keys")
        for key in keys:
            used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
            self.stdout.write(f"{key.name}\t{key.prefix}…\tcreated {key.created_at:%Y-%m-%d %H:%M}\tlast used {used}")

    def _revoke(self, name: str, **_: Any) -> None:
        services.revoke_service_key(name=name)
        self.stdout.write(f"revoked {name}")

    def _bootstrap(self, **_: Any) -> None:
        secret = services.create_bootstrap_key()
        if secret is None:
            return
        self.stdout.write(
            "\n  First run: created the service key 'default'. It is shown only this once:\n\n"
            f"    {secret}\n\n"
            "  Use it as 'Authorization: Bearer <key>'. Manage keys with 'baas keys list|create|revoke'.\n"
        )
