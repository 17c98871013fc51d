"""The `baas` command: Django's management commands with the platform's defaults.

`--data-dir D` (anywhere on the line) sets BAAS_DATA_DIR before the settings load, so it works
for every subcommand: `baas dev --data-dir /tmp/x`, `baas migrate --data-dir /tmp/x`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

USAGE = """usage: baas COMMAND [options]

Platform:
  dev [--host H] [--port P] [--data-dir D]   everything in one process tree, no external service
  serve [--host H] [--port P] [--workers N] [--interface asgi|wsgi]
  worker [celery worker options]             run functions and background tasks
  beat                                       the scheduler
Administration:
  migrate                                    create or upgrade the database
  createadmin --email E --password P         an operator account for the console
  keys create NAME | list | revoke NAME      service keys
Functions (against --url / BAAS_URL with --key / BAAS_SERVICE_KEY):
  functions deploy DIR [--name N] | invoke NAME [--data JSON] | logs NAME [--follow] | list

Every Django management command works too (`baas help` lists them)."""


def _apply_data_dir(argv: list[str]) -> list[str]:
    """Remove `--data-dir D` / `--data-dir=D` from argv and export it as BAAS_DATA_DIR."""
    remaining: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--data-dir" and index + 1 < len(argv):
            os.environ["BAAS_DATA_DIR"] = os.path.abspath(argv[index + 1])
            index += 2
            continue
        if arg.startswith("--data-dir="):
            os.environ["BAAS_DATA_DIR"] = os.path.abspath(arg.split("=", 1)[1])
        else:
            remaining.append(arg)
        index += 1
    return remaining


# Commands that only talk HTTP to a server (e.g. from a developer's laptop): they must not leave a
# data folder behind in the directory they are run from.
CLIENT_COMMANDS = {"functions"}


def main(argv: list[str] | None = None) -> None:
    args = _apply_data_dir(list(sys.argv[1:] if argv is None else argv))
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return
    if args[0] in CLIENT_COMMANDS and not os.environ.get("BAAS_DATA_DIR"):
        scratch = tempfile.mkdtemp(prefix="baas-client-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        os.environ["BAAS_DATA_DIR"] = scratch
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["baas", *args])


if __name__ == "__main__":
    main()
