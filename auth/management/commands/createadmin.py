"""`baas createadmin --email E --password P`: an operator account for the console."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from auth import services
from baas.errors import ApiError


class Command(BaseCommand):
    help = "Create an operator (staff) account, or promote and re-password an existing one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", help="Asked for when missing and a terminal is attached.")
        parser.add_argument("--password", help="Asked for when missing; or set BAAS_ADMIN_PASSWORD.")

    def handle(self, *args: Any, email: str | None, password: str | None, **options: Any) -> None:
        import os
        import sys

        interactive = sys.stdin.isatty()
        email = email or (input("Email: ").strip() if interactive else None)
        password = password or os.environ.get("BAAS_ADMIN_PASSWORD")
        if not password and interactive:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords differ.")
        if not email or not password:
            raise CommandError("Give --email and --password (or BAAS_ADMIN_PASSWORD) when not at a terminal.")
        try:
            user, created = services.create_admin(email=email, password=password)
        except ApiError as exc:
            raise CommandError(f"{exc.message} {exc.details}") from None
        self.stdout.write(f"{'created' if created else 'updated'} admin {user.email} ({user.id})")
