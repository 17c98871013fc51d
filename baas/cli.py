"""The `baas` command: Django's management commands with the platform's defaults.

`--data-dir D` (anywhere on the line) sets BAAS_DATA_DIR before the settings load, so it works
for every subcommand: `baas dev --data-dir /tmp/x`, `baas migrate --data-dir /tmp/x`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
Functions, from a laptop (against --url / BAAS_URL / `baas login`):
  login URL [--key K]                        remember a server and its service key
  functions init NAME [--template T]         a new function folder with its test
  functions dev DIR                          redeploy on save, stream the logs
  functions deploy|list|versions|rollback|delete|invoke|invocations|retry|logs|secrets
                                             (`baas functions --help`, `baas functions CMD --help`)
  webhooks create|list|deliveries|retry|test|enable|disable|rotate-secret|delete
                                             events to an HTTPS endpoint (`baas webhooks --help`)

Data folder: --data-dir D or BAAS_DATA_DIR (default ./.baas; `baas dev` creates it).

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


# Commands that only talk HTTP to a server (e.g. from a developer's laptop): no Django, no data folder.
CLIENT_COMMANDS = {"functions", "webhooks", "login"}
# Commands that create the data folder when it is missing; every other one needs it to exist.
CREATES_DATA_FOLDER = {"dev", "migrate", "serve", "worker", "beat"}
NEEDS_NO_DATA_FOLDER = {"help", "version", "--version"}


def main(argv: list[str] | None = None) -> None:
    args = _apply_data_dir(list(sys.argv[1:] if argv is None else argv))
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return
    if args[0] in CLIENT_COMMANDS:
        _skip_httpx_command_line()
        from functions.cli import main as client_main  # stdlib and baas_client only, no Django

        sys.exit(client_main(args))
    if args[0] not in CREATES_DATA_FOLDER | NEEDS_NO_DATA_FOLDER:
        missing = _missing_data_folder()
        if missing:
            print(missing, file=sys.stderr)
            sys.exit(2)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
    from django.core.management import execute_from_command_line

    from baas.config import ConfigError

    try:
        execute_from_command_line(["baas", *args])
    except ConfigError as error:  # a malformed setting: its message names the variable
        print(f"baas: {error}", file=sys.stderr)
        sys.exit(2)


def _skip_httpx_command_line() -> None:
    """Keep `import httpx` (under baas_client) from importing httpx's own command-line client.

    httpx's package imports `httpx._main` for its `httpx` console script, and that imports click
    (and pygments and rich when installed, as in a dev environment): ~45% of the instructions a
    `baas functions …` process spends starting, for code it never runs. A placeholder module of that
    name, in this client process only, stands in; httpx itself is untouched."""
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    import types

    placeholder = types.ModuleType("httpx._main")

    def main() -> None:
        raise SystemExit("httpx's command line is not loaded in `baas`")

    placeholder.main = main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = placeholder


def _missing_data_folder() -> str | None:
    """Why this command cannot run here (the data folder it would use does not exist), or None.
    Settings would create the folder on import, leaving an empty one behind: look first."""
    from baas.config import load_dotenv_file

    load_dotenv_file()  # a project's .env may name the folder, as it does for the settings
    configured = os.environ.get("BAAS_DATA_DIR")
    folder = Path(configured or ".baas").expanduser().resolve()
    if folder.is_dir():
        return None
    source = "BAAS_DATA_DIR" if configured else "the default, ./.baas in the current folder"
    return (
        f"baas: no data folder at {folder} ({source}).\n"
        "Run this command from your project's folder (where `baas dev` made .baas), or point at the data "
        "folder with --data-dir DIR or BAAS_DATA_DIR=DIR. A new project starts with `baas dev`."
    )


if __name__ == "__main__":
    main()
