"""The rules language's figures: parse time, predicate evaluations/s, SQL compile time, and on
PostgreSQL the plan of a typical list query over many documents with matching indexes.

    .venv/bin/python bench/rules_bench.py [--docs 100000]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/baas .venv/bin/python bench/rules_bench.py

On PostgreSQL it works in a scratch database `<name>_rules_bench` (created, then dropped); on
SQLite in a temporary file. One thread; takes about a minute with 100k documents.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("BAAS_DATA_DIR", tempfile.mkdtemp(prefix="baas-rules-bench-"))
os.environ.setdefault("LOG_LEVEL", "WARNING")

from baas.rules import parse_filter, parse_rule, to_predicate
from baas.rules.ast import DOCUMENT_FIELDS
from baas.rules.parser import Limits, _parse

RULES = {
    "owner or public": "public == true || $owner == auth.id",
    "create check": "auth != null && size(request.data.title) > 0 && request.data.title != 'x'",
    "filter, 5 terms": "status in ['open', 'review'] && tags contains 'x' && price >= 10 && price < 100 "
    "&& starts_with(title, 'The')",
    "claims": "auth.claims.admin == true || (auth.claims.team == team && $created_at > '2024-01')",
}
USER = {"id": "u7", "email": "u7@example.com", "role": "user", "claims": {"team": "t1"}}


def per_call_us(action: Callable[[], object], seconds: float = 0.5) -> float:
    """Median over several rounds of the mean time of one call, in microseconds."""
    rounds = []
    for _ in range(5):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 5:
            action()
            count += 1
        rounds.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(rounds)


def document(i: int) -> dict:
    return {
        "id": f"doc{i:06d}",
        "owner": f"u{i % 1000}",
        "data": {
            "title": f"The title {i}",
            "public": i % 50 == 0,
            "status": ("open", "closed", "review")[i % 3],
            "tags": ["x", "y"] if i % 7 == 0 else ["y"],
            "price": i % 200,
            "team": f"t{i % 10}",
        },
        "version": 1,
        "created_at": datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
        "updated_at": datetime(2024, 6, 1, tzinfo=UTC),
    }


def bench_parse_and_predicate() -> None:
    print("parse (uncached) and predicate, per expression:")
    docs = [document(i) for i in range(1000)]
    request = {"data": {"title": "hello"}}
    for label, text in RULES.items():
        parse_us = per_call_us(lambda text=text: _parse.__wrapped__(text, DOCUMENT_FIELDS, Limits()))
        cached_us = per_call_us(lambda text=text: parse_rule(text, "create"))
        predicate = to_predicate(parse_rule(text, "create"))
        now = datetime(2024, 6, 1, tzinfo=UTC)
        evaluations, started = 0, time.perf_counter()
        while time.perf_counter() - started < 0.5:
            for doc in docs:
                predicate(doc, auth=USER, request=request, now=now)
            evaluations += len(docs)
        rate = evaluations / (time.perf_counter() - started)
        print(
            f"  {label:<16} {len(text):>3} chars  parse {parse_us:7.1f} µs  (cached {cached_us:5.2f} µs)  "
            f"predicate {rate:10,.0f} evals/s"
        )


def scratch_database() -> str | None:
    """Point DATABASE_URL at a fresh scratch database on the same PostgreSQL server, if any."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return None
    import psycopg

    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "baas") + "_rules_bench"
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
    return admin + "|" + name


def drop_scratch(handle: str | None) -> None:
    if handle is None:
        return
    import psycopg
    from django.db import connections

    connections.close_all()
    admin, name = handle.split("|")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def bench_sql(docs: int) -> None:
    import django

    django.setup()
    from django.db import connection

    from baas.rules import to_q
    from tests.rules_testapp.models import Record

    print(f"\nSQL on {connection.vendor}:")
    baseline = per_call_us(lambda: Record.objects.filter(id="x").query.sql_with_params())
    print(f"  (Django alone: .filter(id=...) compiled to SQL in {baseline:.1f} µs)")
    for label, text in RULES.items():
        if "request" in text:
            continue
        node = parse_rule(text, "read")
        fold_us = per_call_us(lambda node=node: to_q(node, auth=USER))
        full_us = per_call_us(lambda node=node: Record.objects.filter(to_q(node, auth=USER)).query.sql_with_params())
        print(f"  {label:<16} to_q (bind + fold) {fold_us:6.1f} µs; with Django's compile to SQL {full_us:6.1f} µs")

    with connection.schema_editor() as editor:
        editor.create_model(Record)
    started = time.perf_counter()
    batch = []
    for i in range(docs):
        batch.append(Record(**document(i)))
        if len(batch) == 5000:
            Record.objects.bulk_create(batch)
            batch = []
    Record.objects.bulk_create(batch)
    print(f"  inserted {docs:,} documents in {time.perf_counter() - started:.1f} s")
    if connection.vendor == "postgresql":
        explain_postgres(connection, Record, to_q)
    else:
        time_queries(Record, to_q)


def time_queries(record: type, to_q: Callable) -> None:  # type: ignore[type-arg]
    for label, text in [("owner or public", RULES["owner or public"]), ("tag filter", "tags contains 'x'")]:
        q = to_q(parse_filter(text), auth=USER)
        rows = record.objects.filter(q).order_by("id")[:50]
        ms = per_call_us(lambda rows=rows: list(rows.all()), seconds=2) / 1000
        print(f"  list query, {label:<16} first 50 of {record.objects.filter(q).count():>6,}: {ms:7.2f} ms")


def explain_postgres(connection: object, record: type, to_q: Callable) -> None:  # type: ignore[type-arg]
    table = record._meta.db_table  # type: ignore[attr-defined]
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(f'CREATE INDEX rules_bench_data ON "{table}" USING gin (data jsonb_path_ops)')
        cursor.execute(f'CREATE INDEX rules_bench_owner ON "{table}" (owner)')
        cursor.execute(f'ANALYZE "{table}"')
    print("  indexes: GIN (data jsonb_path_ops), btree (owner)")
    examples = [
        ("read rule", parse_rule(RULES["owner or public"], "read")),
        ("filter", parse_filter("tags contains 'x' && status == 'open'")),
    ]
    for label, node in examples:
        rows = record.objects.filter(to_q(node, auth=USER)).order_by("id")[:50]
        sql, params = rows.query.sql_with_params()
        with connection.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
            plan = [line for (line,) in cursor.fetchall()]
            rendered = cursor.mogrify(sql, params)
        ms = per_call_us(lambda rows=rows: list(rows.all()), seconds=2) / 1000
        print(f"\n  {label}: {unparse_short(node)}   ({ms:.2f} ms for the first 50 rows)")
        print("  SQL: " + (rendered.decode() if isinstance(rendered, bytes) else rendered).split(" WHERE ", 1)[1])
        for line in plan:
            print("    " + line)


def unparse_short(node: object) -> str:
    from baas.rules import unparse

    return unparse(node)  # type: ignore[arg-type]


def main() -> None:
    arguments = argparse.ArgumentParser()
    arguments.add_argument("--docs", type=int, default=100_000)
    args = arguments.parse_args()
    random.seed(1)
    bench_parse_and_predicate()
    handle = scratch_database()
    try:
        bench_sql(args.docs)
    finally:
        drop_scratch(handle)


if __name__ == "__main__":
    main()
