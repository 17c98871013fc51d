"""Memory and time of hostile multipart uploads (issue 23, item 1).

1. The issue's case: 4 anonymous requests at once, each 3,000 form fields of 64 KiB before the
   file, to a bucket that does not exist. Prints the peak RSS of the server's process tree while
   they run (sampled every 20 ms), its RSS before, and when each request was answered.
2. An anonymous upload declaring 5 GiB to an existing bucket whose rules let anyone upload:
   the time from sending the head until the refusal (nothing of the body is sent).

    .venv/bin/python bench/upload_limits.py
    .venv/bin/python bench/upload_limits.py --baas /work/main/.venv/bin/baas     # the baseline
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import running_server, tree_rss_bytes

BOUNDARY = b"bench0boundary"
FIELDS = [
    b'--%s\r\nContent-Disposition: form-data; name="f%d"\r\n\r\n%s\r\n' % (BOUNDARY, index, b"x" * 65536)
    for index in range(3000)
]  # distinct names, so that a parser keeping every field keeps them all
FILE = b'--%s\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nhello\r\n--%s--\r\n' % (
    BOUNDARY,
    BOUNDARY,
)


def fields_request(port: int, results: list[tuple[float, str]], started: float) -> None:
    length = sum(map(len, FIELDS)) + len(FILE)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /v1/storage/objects/nowhere/a.bin HTTP/1.1\r\nHost: bench\r\n"
        b"Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n" % (BOUNDARY, length)
    )
    sock.settimeout(0.001)
    answer = b""
    try:
        for field in FIELDS:
            sock.sendall(field)
            try:
                answer = sock.recv(4096)
                if answer:
                    break
            except (TimeoutError, BlockingIOError):
                pass
        else:
            sock.sendall(FILE)
    except OSError:
        pass  # answered and closed while we were sending
    sock.settimeout(120)
    try:
        while not answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    except OSError:
        pass
    results.append((time.monotonic() - started, answer.split(b"\r\n", 1)[0].decode(errors="replace")))
    sock.close()


def many_fields(port: int, pid: int) -> dict[str, object]:
    before = tree_rss_bytes(pid)
    results: list[tuple[float, str]] = []
    started = time.monotonic()
    threads = [threading.Thread(target=fields_request, args=(port, results, started)) for _ in range(4)]
    for thread in threads:
        thread.start()
    peak = before
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, tree_rss_bytes(pid))
        time.sleep(0.02)
    return {
        "case": "4 anonymous x 3,000 fields of 64 KiB, missing bucket",
        "rss_before_mib": round(before / 2**20, 1),
        "rss_peak_mib": round(peak / 2**20, 1),
        "answered_after_s": [round(seconds, 3) for seconds, _ in sorted(results)],
        "answers": sorted({status for _, status in results}),
    }


def oversized(port: int, key: str, tries: int) -> dict[str, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = {"name": "open", "max_size": 10 * 2**20, "rules": {"create": "true", "read": "true"}}
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn.request("POST", "/v1/storage/buckets", json.dumps(body), headers)
    response = conn.getresponse()
    assert response.status == 201, response.read()
    response.read()
    results: dict[str, object] = {
        "case": "anonymous upload declaring 5 GiB to a bucket of 10 MiB, body not sent",
    }
    for method, ctype in (("POST", b"multipart/form-data; boundary=x"), ("PUT", b"application/octet-stream")):
        timings, status = [], ""
        for _ in range(tries):
            sock = socket.create_connection(("127.0.0.1", port))
            started = time.monotonic()
            sock.sendall(
                b"%s /v1/storage/objects/open/big.bin HTTP/1.1\r\nHost: bench\r\nContent-Type: %s\r\n"
                b"Content-Length: %d\r\n\r\n" % (method.encode(), ctype, 5 * 2**30)
            )
            sock.settimeout(30)
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                answer = b"(no answer in 30 s)"
            timings.append(time.monotonic() - started)
            status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
            sock.close()
        ordered = sorted(timings)
        results[method] = {
            "answer": status,
            "p50_ms": round(ordered[len(ordered) // 2] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baas", default=str(Path(sys.executable).with_name("baas")))
    parser.add_argument("--tries", type=int, default=20, help="oversized uploads per method")
    parser.add_argument("--only", choices=["fields", "oversized"])
    args = parser.parse_args()
    if args.only != "oversized":
        with running_server(args.baas) as (port, _key, pid):
            time.sleep(3)  # let the warm-up finish, so the baseline RSS is steady
            print(json.dumps(many_fields(port, pid)), flush=True)
    if args.only != "fields":
        with running_server(args.baas) as (port, key, _pid):
            print(json.dumps(oversized(port, key, args.tries)), flush=True)


if __name__ == "__main__":
    main()
