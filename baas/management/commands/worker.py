"""`baas worker`: a Celery worker for functions and background tasks."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run a Celery worker. Options after the known ones are passed to `celery worker`."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--concurrency", "-c", type=int, default=None)
        parser.add_argument("--pool", "-P", default=None, help="prefork (default), threads, solo")
        parser.add_argument("--loglevel", "-l", default="INFO")
        parser.add_argument("celery_args", nargs=argparse.REMAINDER)

    def handle(
        self,
        *args: Any,
        concurrency: int | None,
        pool: str | None,
        loglevel: str,
        celery_args: list[str],
        **_: Any,
    ) -> None:
        from baas.celery import app

        argv = ["worker", "--loglevel", loglevel, "--without-mingle", "--without-gossip"]
        if concurrency:
            argv += ["--concurrency", str(concurrency)]
        if pool:
            argv += ["--pool", pool]
        app.worker_main(argv + celery_args)
