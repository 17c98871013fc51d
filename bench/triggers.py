"""Trigger latency and throughput: from a document write's commit to the function's start.

Starts `baas worker` with its default settings (prefork, one process per core; its main process
tails the event log and dispatches) on a fresh data folder, deploys a trivial
`@on_document_created` function, warms its sandboxes, then writes documents from this process
through the documents service and reads each invocation's `queue_delay_ms` (event timestamp,
taken in the writing transaction right before commit → the invocation's start, both on this
machine's clock):
  - paced writes at 20 and at 200 events/s: p50 / p99 / max trigger latency;
  - a burst of 5,000 events (written in transactions of 100): the backlog every second while it
    drains, time to drain, sustained invocations/s, and the worker's CPU time per invocation (all
    its processes and sandboxes: a figure that other load on the machine disturbs less).
SQLite by default; set DATABASE_URL to an empty PostgreSQL database to measure that instead.
With --paused the burst is written while the worker is stopped (SIGSTOP), and only the drain is
timed: on 2 shared cores the writer otherwise takes its share and bounds the figure.
With --rate N the script instead writes a continuous stream of N events/s for --seconds while the
worker runs (the writer shares the cores, as in production), then reports the invocations/s the
worker sustained, the trigger latency percentiles and the CPU per invocation of the worker, of
PostgreSQL and of the writer. Writes are single-document transactions; when the writer falls
behind its schedule it writes what it owes in one batch (as concurrent clients would), and says
how many events a transaction held on average.
Run: .venv/bin/python bench/triggers.py [--burst 5000] [--seconds 10] [--paused] [--profile FILE]
     .venv/bin/python bench/triggers.py --rate 400 --seconds 20
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import process_tree

BAAS = str(Path(sys.executable).with_name("baas"))
FUNCTION = """
from baas_runtime import on_document_created

@on_document_created("bench")
def started(event, ctx):
    return None
"""


def cpu_seconds(root: int) -> float:
    """User + system CPU time of a process and all its live descendants (Linux /proc)."""
    return sum(process_cpu(pid) for pid in process_tree(root))


def process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_kind(root: int) -> dict[str, float]:
    """The worker's CPU split: its main process (the tailer's dispatch, the broker consumer), its
    pool processes (claims, runs, records) and the sandboxes."""
    found = {"main process (dispatch, broker)": 0.0, "pool processes (claim, run, record)": 0.0, "sandboxes": 0.0}
    for pid in process_tree(root):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        kind = (
            "sandboxes" if b"bwrap" in command or b"python3\x00-I" in command else "pool processes (claim, run, record)"
        )
        found["main process (dispatch, broker)" if pid == root else kind] += process_cpu(pid)
    return found


def postgres_cpu() -> float:
    """CPU of the PostgreSQL backends connected to this database now (on this machine)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return sum(process_cpu(pid) for (pid,) in cursor.fetchall())


def postgres_counts() -> tuple[int, int]:
    """Transactions committed and sessions opened in this database so far (every process's: the
    writer's too). Sessions need PostgreSQL 14."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0, 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT xact_commit, sessions FROM pg_stat_database WHERE datname = current_database()")
        commits, sessions = cursor.fetchone()
        return int(commits), int(sessions)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10, help="length of the 20 events/s run")
    parser.add_argument("--fast-seconds", type=float, default=3, help="length of the 200 events/s run")
    parser.add_argument("--burst", type=int, default=5000)
    parser.add_argument(
        "--paused",
        action="store_true",
        help="write the burst while the worker is stopped (SIGSTOP), then time its drain alone: the writer "
        "shares the 2 cores and otherwise bounds the figure",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="record the worker's processes with py-spy during the burst (collapsed stacks; pip install py-spy)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="write a continuous stream of this many events/s for --seconds with the worker running, and report "
        "the sustained invocations/s, latency percentiles and CPU per invocation (instead of the other runs)",
    )
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="baas-bench-triggers-"))
    os.environ["BAAS_DATA_DIR"] = str(data)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    env = dict(os.environ)
    subprocess.run([BAAS, "migrate", "-v", "0"], env=env, check=True)

    # bench/ holds modules named like the project's apps (bench/auth.py): import from the root.
    sys.path[:] = [str(Path(__file__).resolve().parents[1]), *(p for p in sys.path[1:])]
    import django

    django.setup()
    from django.db import connection

    from baas.principals import service_principal
    from documents import services as documents
    from functions import services as functions
    from functions.models import Invocation

    principal = service_principal(name="bench", key_id="bench")
    documents.create_collection(name="bench")
    log = open(data / "worker.log", "w")  # noqa: SIM115
    worker = subprocess.Popen([BAAS, "worker"], env=env, stdout=log, stderr=log)
    try:
        functions.deploy_function(
            principal=principal,
            config={"name": "bench", "files": {"main.py": FUNCTION}, "permissions": ["db:read:bench"]},
        )
        print(f"database {connection.vendor}, worker: `baas worker` defaults ({os.cpu_count()} processes)")

        def write(n: int = 1) -> None:
            if n == 1:
                documents.create_document(principal=principal, collection="bench", data={"x": 1})
            else:
                ops = [{"op": "create", "collection": "bench", "data": {"x": i}} for i in range(n)]
                documents.batch(principal=principal, ops=ops)

        def wait_done(total: int, timeout: float = 600) -> None:
            deadline = time.monotonic() + timeout
            while Invocation.objects.filter(status="succeeded").count() < total:
                if time.monotonic() > deadline:
                    raise SystemExit(f"not all invocations finished; see {data / 'worker.log'}")
                time.sleep(0.05)

        # Warm up: every worker process gets a sandbox of the function.
        done = 0
        for _ in range(40):
            write()
            time.sleep(0.05)
        done += 40
        wait_done(done)

        if args.rate:
            profiler = start_profile(args.profile, worker.pid) if args.profile else None
            try:
                stream(args.rate, args.seconds, write, worker.pid)
            finally:
                if profiler is not None:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(timeout=60)
            return

        for rate, seconds in ((20, args.seconds), (200, args.fast_seconds)):
            count = int(rate * seconds)
            if not count:
                continue
            first = Invocation.objects.order_by("-created_at").values_list("created_at", flat=True).first()
            started = time.perf_counter()
            for index in range(count):
                pause = started + index / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                write()
            done += count
            wait_done(done)
            delays = list(Invocation.objects.filter(created_at__gt=first).values_list("queue_delay_ms", flat=True))
            print(
                f"trigger latency at {rate:>3} events/s for {seconds:.0f} s   p50 {pct(delays, 0.5):6.1f} ms   "
                f"p99 {pct(delays, 0.99):6.1f} ms   max {max(delays):6.1f} ms   (n={len(delays)})"
            )

        if not args.burst:
            return
        first = Invocation.objects.order_by("-created_at").values_list("created_at", flat=True).first()
        paused = process_tree(worker.pid) if args.paused else []
        for pid in paused:  # the worker sleeps while the burst is written: the drain alone is timed
            os.kill(pid, signal.SIGSTOP)
        if paused:
            started = time.perf_counter()
            for _ in range(args.burst // 100):
                write(100)
            written = time.perf_counter() - started
        cpu_before = cpu_seconds(worker.pid)
        kinds_before, postgres_before = cpu_by_kind(worker.pid), postgres_cpu()
        profiler = start_profile(args.profile, worker.pid) if args.profile else None
        started = time.perf_counter()
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
        if not paused:
            for _ in range(args.burst // 100):
                write(100)
            written = time.perf_counter() - started
        done += args.burst // 100 * 100
        samples = []
        while True:
            finished = Invocation.objects.filter(created_at__gt=first, status="succeeded").count()
            samples.append((time.perf_counter() - started, args.burst - finished))
            if finished >= args.burst:
                break
            time.sleep(1.0 if samples[-1][0] > 1 else 0.2)
        drained = time.perf_counter() - started
        worker_cpu = cpu_seconds(worker.pid) - cpu_before
        kinds = {kind: seconds - kinds_before.get(kind, 0.0) for kind, seconds in cpu_by_kind(worker.pid).items()}
        postgres = postgres_cpu() - postgres_before
        if profiler is not None:
            profiler.send_signal(2)
            profiler.wait(timeout=60)
        delays = list(Invocation.objects.filter(created_at__gt=first).values_list("queue_delay_ms", flat=True))
        print(
            f"burst of {args.burst} events written in {written:.1f} s{' (worker paused)' if paused else ''}; "
            f"drained in {drained:.1f} s{' after resuming it' if paused else ''} "
            f"→ sustained {args.burst / drained:.0f} invocations/s"
        )
        print("backlog while draining: " + ", ".join(f"{t:.0f}s:{left}" for t, left in samples[::2]))
        print(f"burst trigger latency p50 {pct(delays, 0.5) / 1000:.1f} s, max {max(delays) / 1000:.1f} s")
        print(
            f"worker CPU (all its processes and sandboxes) during the burst: {worker_cpu:.1f} s "
            f"= {worker_cpu * 1000 / args.burst:.2f} ms per invocation"
        )
        for kind, seconds in kinds.items():
            print(f"  {kind}: {seconds * 1000 / args.burst:.2f} ms per invocation")
        if postgres:
            print(
                f"PostgreSQL backends of this database (the writer's too): "
                f"{postgres * 1000 / args.burst:.2f} ms per invocation"
            )
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def start_profile(path: str, worker: int) -> subprocess.Popen:
    """py-spy recording the worker's processes while they hold the GIL (collapsed stacks) until SIGINT."""
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    command = [py_spy, "record", "--subprocesses", "--nonblocking", "--gil", "--format", "raw", "-o", path]
    return subprocess.Popen([*command, "--pid", str(worker)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stream(rate: float, seconds: float, write: Any, worker: int) -> None:
    """Write `rate` events/s for `seconds` while the worker runs; report what it sustained."""
    from functions.models import Invocation

    first = Invocation.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    count = int(rate * seconds)
    # The worker's CPU while idle (its sweep every second, Celery's housekeeping), to tell apart.
    idle_started, idle_before = time.perf_counter(), cpu_seconds(worker)
    time.sleep(3)
    idle = (cpu_seconds(worker) - idle_before) / (time.perf_counter() - idle_started)
    cpu_before, postgres_before, commits_before = cpu_seconds(worker), postgres_cpu(), postgres_counts()
    kinds_before = cpu_by_kind(worker)
    writer_before = time.process_time()
    load_before = os.getloadavg()[0]
    written, transactions = 0, 0
    started = time.perf_counter()
    while written < count:
        owed = min(count, int((time.perf_counter() - started) * rate) + 1) - written
        if owed <= 0:
            time.sleep(max(0.0, started + written / rate - time.perf_counter()))
            continue
        owed = min(owed, 100)
        write(owed)
        written += owed
        transactions += 1
    wrote = time.perf_counter() - started
    writer_cpu = time.process_time() - writer_before
    samples = []
    deadline = time.monotonic() + 600
    while True:
        finished = Invocation.objects.filter(created_at__gt=first, status="succeeded").count()
        samples.append((time.perf_counter() - started, count - finished))
        if finished >= count:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"not all invocations finished ({finished}/{count})")
        time.sleep(0.05)
    drained = time.perf_counter() - started
    worker_cpu = cpu_seconds(worker) - cpu_before
    postgres = postgres_cpu() - postgres_before
    commits, sessions = (after - before for after, before in zip(postgres_counts(), commits_before, strict=True))
    kinds = {kind: seconds - kinds_before.get(kind, 0.0) for kind, seconds in cpu_by_kind(worker).items()}
    delays = list(Invocation.objects.filter(created_at__gt=first).values_list("queue_delay_ms", flat=True))
    print(
        f"stream of {count} events at {rate:.0f}/s: written in {wrote:.1f} s ({count / wrote:.0f}/s, "
        f"{count / transactions:.2f} events per transaction); all run after {drained:.1f} s "
        f"→ sustained {count / drained:.0f} invocations/s (tail after the last write {drained - wrote:.2f} s)"
    )
    print(
        f"trigger latency p50 {pct(delays, 0.5):.1f} ms   p90 {pct(delays, 0.9):.1f} ms   "
        f"p99 {pct(delays, 0.99):.1f} ms   max {max(delays):.1f} ms   (n={len(delays)})"
    )
    print(
        f"CPU per invocation: worker {worker_cpu * 1000 / count:.2f} ms, PostgreSQL backends "
        f"{postgres * 1000 / count:.2f} ms, writer {writer_cpu * 1000 / count:.2f} ms; "
        f"load average 1 min {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    net = (worker_cpu - idle * drained) * 1000 / count
    print(f"  worker idle: {idle * 1000:.1f} ms CPU per second; net of it, {net:.2f} ms per invocation")
    print("  worker: " + ", ".join(f"{kind} {seconds * 1000 / count:.2f} ms" for kind, seconds in kinds.items()))
    if commits:
        print(
            f"PostgreSQL, per invocation (load-independent counts): {commits / count:.2f} transactions (the "
            f"writer's {transactions / count:.2f} included), {sessions / count:.3f} new connections"
        )


if __name__ == "__main__":
    main()
