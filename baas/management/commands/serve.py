"""`baas serve`: the web process (HTTP + websockets on one port, or REST alone under WSGI)."""

from __future__ import annotations

import contextlib
import resource
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from baas.config import env_int, env_str


class Command(BaseCommand):
    help = "Serve the API. asgi (default): HTTP and websockets on one port; wsgi: REST only, behind a proxy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=env_str("BAAS_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=env_int("PORT", 8000, minimum=1))
        parser.add_argument("--workers", type=int, default=env_int("WEB_CONCURRENCY", 1, minimum=1))
        parser.add_argument("--interface", choices=["asgi", "wsgi"], default="asgi")
        parser.add_argument(
            "--threads",
            type=int,
            default=env_int("BAAS_HTTP_THREADS", 16, minimum=1),
            help="Threads per worker serving REST requests (each may hold a database connection).",
        )

    def handle(self, *args: Any, host: str, port: int, workers: int, interface: str, threads: int, **_: Any) -> None:
        from functions.sandbox import refuse_unsafe_local_on

        refuse_unsafe_local_on(host)  # unsandboxed functions only on loopback, never in production
        if interface == "wsgi":
            self._serve_wsgi(host, port, workers, threads)
        else:
            self._serve_asgi(host, port, workers, threads)

    def _serve_asgi(self, host: str, port: int, workers: int, threads: int) -> None:
        import os

        import uvicorn

        raise_open_file_limit()
        os.environ["BAAS_HTTP_THREADS"] = str(threads)
        options: dict[str, Any] = {
            "host": host,
            "port": port,
            "workers": workers,
            "lifespan": "on",
            # Bounded request heads: size, count and a clock (baas/http_protocol.py).
            "http": "baas.http_protocol:BoundedHttpToolsProtocol",
            # The app reads X-Forwarded-* itself, in one place (baas/client_address.py): uvicorn's
            # own handling would believe them differently.
            "proxy_headers": False,
            "access_log": False,  # RequestContextMiddleware logs every request with its id
            "log_config": None,  # keep Django's logging configuration
            "timeout_graceful_shutdown": 10,
            "ws_per_message_deflate": False,  # halves memory per websocket (docs/serving.md)
        }
        if workers == 1:
            uvicorn.run("baas.asgi:application", **options)
        else:
            self._serve_asgi_workers(options)

    def _serve_asgi_workers(self, options: dict[str, Any]) -> None:
        """What uvicorn.run does for several workers, but each worker listens on a socket of its
        own (SO_REUSEPORT), so the kernel spreads connections over them (baas/listening.py)."""
        import uvicorn
        from uvicorn.supervisors import Multiprocess

        from baas.listening import bind_shared
        from baas.supervisor import serve_workers_in_own_sessions

        serve_workers_in_own_sessions()
        config = uvicorn.Config("baas.asgi:application", loop="baas.listening:worker_loop", **options)
        try:
            sock = bind_shared(options["host"], options["port"])
        except OSError as error:
            raise CommandError(f"cannot listen on {options['host']}:{options['port']}: {error}") from None
        self.stdout.write(
            f"baas serve: http://{options['host']}:{sock.getsockname()[1]} with {options['workers']} workers"
        )
        with contextlib.suppress(KeyboardInterrupt):
            Multiprocess(config, sockets=[sock]).run()

    def _serve_wsgi(self, host: str, port: int, workers: int, threads: int) -> None:
        try:
            from granian import Granian
            from granian.constants import Interfaces
        except ImportError:
            # granian is an optional extra: only this interface needs it (docs/dependencies.md).
            raise CommandError(
                "--interface wsgi needs granian, which is not installed: pip install 'baas[wsgi]' "
                "(the container image and scripts/bootstrap include it)."
            ) from None

        # The thread cap matters: each thread keeps its own database connection.
        Granian(
            "baas.wsgi:application",
            address=host,
            port=port,
            interface=Interfaces.WSGI,
            workers=workers,
            blocking_threads=threads,
            websockets=False,
        ).serve()


def raise_open_file_limit() -> None:
    """Every websocket is a file descriptor, and many systems start processes with a soft limit of
    1,024: lift it to the hard limit, as far as the system allows (worker processes inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    wanted = hard if hard != unlimited else 1_048_576  # Linux's usual ceiling (fs.nr_open)
    if soft == unlimited or soft >= wanted:
        return
    with contextlib.suppress(ValueError, OSError):  # not allowed here: serve with what we have
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
