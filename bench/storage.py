"""Object storage figures, through a live `baas serve` on each backend, with baselines measured in
the same run:

- upload and download MB/s of a 256 MiB object through the API, next to a plain file copy on the
  same disk (local) and a direct boto3 transfer to the same moto server (S3), with the ratios;
- peak RSS of the server process during a 1 GiB upload, above its idle RSS (target < 100 MiB);
- 4 KiB uploads/s and downloads/s with 16 concurrent clients.

    .venv/bin/python bench/storage.py [--backends local,s3] [--size-mib 256] [--rss-mib 1024]
                                      [--small 3000] [--clients 16] [--small-only]
                                      [--database-url postgres://…/baas_bench_storage] [--workers 1]

Without --database-url the server runs on SQLite; with it, on that PostgreSQL database (emptied
first). --small-only skips the large-object and RSS parts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import free_port, fresh_database, tree_rss_kib, wait_healthy

BIN = Path(sys.executable).parent
BAAS = str(BIN / "baas")
MIB = 1024 * 1024
CHUNK = MIB


class Server:
    """`baas migrate`, a service key and `baas serve` in a fresh data folder."""

    def __init__(self, data_dir: Path, extra_env: dict[str, str], workers: int = 1) -> None:
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")},
            "BAAS_DATA_DIR": str(data_dir),
            "LOG_LEVEL": "WARNING",
            **extra_env,
        }
        subprocess.run([BAAS, "migrate", "-v", "0"], env=self.env, check=True)
        created = subprocess.run(
            [BAAS, "keys", "create", "bench"], env=self.env, check=True, capture_output=True, text=True
        )
        self.key = created.stdout.strip().splitlines()[-1].strip()
        self.process = subprocess.Popen(
            [BAAS, "serve", "--port", str(self.port), "--workers", str(workers)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_healthy(f"http://127.0.0.1:{self.port}/v1/health")

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=300, blocksize=CHUNK)

    def call(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        conn = self.connection()
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()

    def put_stream(self, path: str, chunks, length: int, conn=None) -> int:  # type: ignore[no-untyped-def]
        own = conn is None
        conn = conn or self.connection()
        conn.putrequest("PUT", path)
        conn.putheader("Authorization", f"Bearer {self.key}")
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        for chunk in chunks:
            conn.send(chunk)
        response = conn.getresponse()
        body = response.read()
        if response.status != 201:
            raise SystemExit(f"upload failed: {response.status} {body[:300]!r}")
        if own:
            conn.close()
        return response.status

    def get_stream(self, path: str, conn=None) -> int:  # type: ignore[no-untyped-def]
        own = conn is None
        conn = conn or self.connection()
        conn.request("GET", path, headers={"Authorization": f"Bearer {self.key}"})
        response = conn.getresponse()
        if response.status != 200:
            raise SystemExit(f"download failed: {response.status} {response.read()[:300]!r}")
        total = 0
        while chunk := response.read(CHUNK):
            total += len(chunk)
        if own:
            conn.close()
        return total

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def file_chunks(path: Path):  # type: ignore[no-untyped-def]
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def generated_chunks(total: int):  # type: ignore[no-untyped-def]
    block = os.urandom(CHUNK)
    sent = 0
    while sent < total:
        piece = block[: min(CHUNK, total - sent)]
        sent += len(piece)
        yield piece


def rate(nbytes: int, seconds: float) -> float:
    return nbytes / MIB / seconds


def measure_large(server: Server, source: Path, size: int) -> tuple[float, float]:
    started = time.perf_counter()
    server.put_stream("/v1/storage/objects/bench/large.bin", file_chunks(source), size)
    up = rate(size, time.perf_counter() - started)
    started = time.perf_counter()
    got = server.get_stream("/v1/storage/objects/bench/large.bin")
    down = rate(got, time.perf_counter() - started)
    assert got == size, (got, size)
    return up, down


def measure_rss(server: Server, size: int) -> tuple[float, float]:
    time.sleep(0.5)
    idle = tree_rss_kib(server.process.pid)
    peak = idle
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kib(server.process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        server.put_stream("/v1/storage/objects/bench/huge.bin", generated_chunks(size), size)
    finally:
        done.set()
        sampler.join()
    server.call("DELETE", "/v1/storage/objects/bench/huge.bin")
    return idle / 1024, (peak - idle) / 1024


def measure_small(server: Server, count: int, clients: int) -> tuple[float, float]:
    payload = os.urandom(4096)
    local = threading.local()

    def conn() -> http.client.HTTPConnection:
        if not hasattr(local, "conn"):
            local.conn = server.connection()
        return local.conn

    def upload(i: int) -> None:
        server.put_stream(f"/v1/storage/objects/bench/small/{i:06d}", [payload], len(payload), conn=conn())

    def download(i: int) -> None:
        assert server.get_stream(f"/v1/storage/objects/bench/small/{i:06d}", conn=conn()) == 4096

    return puts_and_gets_per_second(upload, download, count, clients)


def puts_and_gets_per_second(
    put: Callable[[int], None], get: Callable[[int], None], count: int, clients: int
) -> tuple[float, float]:
    """`count` puts, then `count` gets of what was put, from `clients` threads: calls per second."""
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(put, range(clients)))  # warm up connections
        started = time.perf_counter()
        list(pool.map(put, range(count)))
        puts = count / (time.perf_counter() - started)
        started = time.perf_counter()
        list(pool.map(get, range(count)))
        gets = count / (time.perf_counter() - started)
    return puts, gets


def wrk_small(server: Server, count: int, clients: int, seconds: int) -> tuple[float, float]:
    """4 KiB uploads/s and downloads/s with wrk's `clients` connections: a load generator that
    costs the shared cores far less than Python clients. Downloads read the `count` objects
    measure_small uploaded; uploads go to new paths."""
    import re

    here = Path(__file__).resolve().parent / "wrk"
    env = {**os.environ, "BAAS_KEY": server.key, "BAAS_PATH": "/v1/storage/objects/bench", "BAAS_COUNT": str(count)}
    rates = []
    for script in ("object_put.lua", "object_get.lua"):
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as combined:
            combined.write((here / script).read_text() + "\n" + (here / "report.lua").read_text())
        output = subprocess.run(
            ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--timeout", "5s", "-s", combined.name,
             f"http://127.0.0.1:{server.port}"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        os.unlink(combined.name)
        match = re.search(r"RESULT rps=([\d.]+) p50=([\d.]+) p99=([\d.]+) errors=(\d+)", output)
        if not match or int(match[4]):
            raise SystemExit(f"wrk said:\n{output}")
        rates.append(float(match[1]))
    return rates[0], rates[1]


def plain_copy(source: Path, size: int) -> float:
    target = source.with_suffix(".copy")
    started = time.perf_counter()
    with source.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
        dst.flush()
    seconds = time.perf_counter() - started
    target.unlink()
    return rate(size, seconds)


def plain_read(source: Path, size: int) -> float:
    started = time.perf_counter()
    with source.open("rb") as src:
        while src.read(CHUNK):
            pass
    return rate(size, time.perf_counter() - started)


def moto_client(endpoint: str, **options: object) -> Any:
    """A boto3 S3 client of the moto server at `endpoint` (moto takes any credentials)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        **options,
    )


def boto3_transfer(endpoint: str, source: Path, size: int) -> tuple[float, float]:
    client = moto_client(endpoint)
    client.create_bucket(Bucket="bench-direct")
    started = time.perf_counter()
    client.upload_file(str(source), "bench-direct", "large.bin")
    up = rate(size, time.perf_counter() - started)
    started = time.perf_counter()
    body = client.get_object(Bucket="bench-direct", Key="large.bin")["Body"]
    total = 0
    for chunk in body.iter_chunks(CHUNK):
        total += len(chunk)
    down = rate(total, time.perf_counter() - started)
    client.delete_object(Bucket="bench-direct", Key="large.bin")
    return up, down


def boto3_small(endpoint: str, count: int, clients: int) -> tuple[float, float]:
    """4 KiB put_object/get_object calls/s straight to the moto server with `clients` threads: what
    the S3 test server itself allows, beside the API's figures on the same server."""
    from botocore.config import Config

    client = moto_client(endpoint, config=Config(max_pool_connections=clients))
    client.create_bucket(Bucket="bench-small")
    payload = os.urandom(4096)

    def put(i: int) -> None:
        client.put_object(Bucket="bench-small", Key=f"small/{i:06d}", Body=payload)

    def get(i: int) -> None:
        assert len(client.get_object(Bucket="bench-small", Key=f"small/{i:06d}")["Body"].read()) == 4096

    return puts_and_gets_per_second(put, get, count, clients)


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return process, endpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="local,s3")
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rss-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--small-only", action="store_true", help="only the 4 KiB objects")
    parser.add_argument("--database-url", help="PostgreSQL instead of SQLite (the database is emptied)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--wrk-seconds", type=int, default=10, help="4 KiB objects under wrk too (0: not)")
    args = parser.parse_args()
    size = args.size_mib * MIB

    with tempfile.TemporaryDirectory(prefix="baas-bench-storage-") as tmp:
        work = Path(tmp)
        source = work / "source.bin"
        with source.open("wb") as handle:
            for chunk in generated_chunks(0 if args.small_only else size):
                handle.write(chunk)
        print(
            f"object storage bench: {args.size_mib} MiB object, {args.rss_mib} MiB RSS upload, "
            f"{args.small} x 4 KiB with {args.clients} clients"
        )
        for kind in args.backends.split(","):
            moto = None
            extra: dict[str, str] = {}
            if kind == "s3":
                moto, endpoint = start_moto()
                moto_client(endpoint).create_bucket(Bucket="baas-objects")
                extra = {
                    "STORAGE_URL": "s3://baas-objects",
                    "S3_ENDPOINT_URL": endpoint,
                    "S3_ACCESS_KEY_ID": "testing",
                    "S3_SECRET_ACCESS_KEY": "testing",
                }
            if args.database_url:
                fresh_database(args.database_url)
                extra["DATABASE_URL"] = args.database_url
            server = Server(work / f"data-{kind}", extra, workers=args.workers)
            try:
                status, body = server.call("POST", "/v1/storage/buckets", {"name": "bench"})
                assert status == 201, body
                if not args.small_only:
                    up, down = measure_large(server, source, size)
                    if kind == "local":
                        base_up, base_down = plain_copy(source, size), plain_read(source, size)
                        base = "plain file copy / read on the same disk"
                    else:
                        base_up, base_down = boto3_transfer(endpoint, source, size)
                        base = "direct boto3 upload_file / get_object to the same moto"
                    server.call("DELETE", "/v1/storage/objects/bench/large.bin")
                    idle, above = measure_rss(server, args.rss_mib * MIB)
                small_up, small_down = measure_small(server, args.small, args.clients)
                direct = boto3_small(endpoint, args.small, args.clients) if kind == "s3" else None
                wrk_up, wrk_down = (
                    wrk_small(server, args.small, args.clients, args.wrk_seconds) if args.wrk_seconds else (0, 0)
                )
            finally:
                server.stop()
                if moto is not None:
                    moto.terminate()
                    moto.wait(timeout=10)
            database = "PostgreSQL" if args.database_url else "SQLite"
            print(f"\n[{kind}, {database}, {args.workers} worker(s)]")
            print(f"  4 KiB objects, {args.clients} clients: {small_up:7.0f} uploads/s   {small_down:7.0f} downloads/s")
            if direct is not None:
                print(
                    f"  4 KiB objects, {args.clients} clients, direct boto3 put/get to the same moto server: "
                    f"{direct[0]:7.0f} uploads/s   {direct[1]:7.0f} downloads/s"
                )
            if args.wrk_seconds:
                print(f"  4 KiB objects, wrk x{args.clients}: {wrk_up:7.0f} uploads/s   {wrk_down:7.0f} downloads/s")
            if args.small_only:
                continue
            print(f"  upload   {up:8.1f} MB/s   baseline {base_up:8.1f} MB/s   ratio {up / base_up:5.2f}  ({base})")
            print(f"  download {down:8.1f} MB/s   baseline {base_down:8.1f} MB/s   ratio {down / base_down:5.2f}")
            print(
                f"  server RSS idle {idle:.0f} MiB; peak during a {args.rss_mib} MiB upload: "
                f"+{above:.1f} MiB above idle (target < 100)"
            )


if __name__ == "__main__":
    main()
