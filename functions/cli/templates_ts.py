"""`baas functions init NAME --lang ts`: a TypeScript function, its manifest, its `deno test` test,
a `deno.json` whose import map points `baas` and `baas/testing` at a copy of the module in
`.baas-ts/` (types.py), so `deno check`, `deno test` and editors work with no server running.

The tests use `baas/testing` (baas_runtime/deno/testing.ts: the platform in memory) and
`node:assert`, built into Deno: nothing is downloaded. Each passes as generated and fails when its
handler throws (tests/functions_cli/test_init_ts.py runs both).
"""

from __future__ import annotations

import json
from typing import Any

from functions.cli import types

HTTP_MAIN = """\
/** Called by apps with `client.functions.invoke("{name}", {{ name: "Ada" }})`. */
import {{ logger, onHttp }} from "baas";

export const greet = onHttp((event, ctx) => {{
  const payload = (event.payload ?? {{}}) as {{ name?: string }};
  const name = payload.name || "world";
  logger.info(`greeting ${{name}}`);
  return {{ message: `Hello, ${{name}}!`, version: ctx.version }};
}});
"""

HTTP_TEST = """\
import assert from "node:assert/strict";
import {{ TestPlatform }} from "baas/testing";
import manifest from "./baas.json" with {{ type: "json" }};
import {{ greet }} from "./main.ts";

Deno.test("it greets by name", async () => {{
  using platform = new TestPlatform({{ manifest }});

  const answer = await platform.invoke(greet, platform.http({{ name: "Ada" }}));

  assert.deepEqual(answer, {{ message: "Hello, Ada!", version: 1 }});
  assert.ok(platform.logs.includes("INFO greeting Ada"), platform.logs.join("\\n"));
}});

Deno.test("it greets the world without a name", async () => {{
  using platform = new TestPlatform({{ manifest }});

  const answer = await platform.invoke(greet, platform.http({{}}));

  assert.equal((answer as {{ message: string }}).message, "Hello, world!");
}});
"""

DOCUMENT_MAIN = """\
/** Runs each time a document is created in `orders`: writes its total to `order_totals`. */
import {{ db, logger, onDocumentCreated }} from "baas";

interface Line {{
  price: number;
  quantity: number;
}}

export const total = onDocumentCreated("orders", async (event) => {{
  const lines = (event.doc?.data.lines ?? []) as unknown as Line[];
  const amount = lines.reduce((sum, line) => sum + line.price * line.quantity, 0);
  logger.info(`order ${{event.key}} totals ${{amount}}`);
  // Keyed on the order: a retried event writes the same document again, never a second one.
  await db.collection("order_totals").set(event.key, {{ order: event.key, total: amount }});
}});
"""

DOCUMENT_TEST = """\
import assert from "node:assert/strict";
import {{ TestPlatform }} from "baas/testing";
import manifest from "./baas.json" with {{ type: "json" }};
import {{ total }} from "./main.ts";

Deno.test("a new order gets its total", async () => {{
  // The manifest's permissions apply: a write outside them fails as it would when deployed.
  using platform = new TestPlatform({{ manifest }});
  const created = platform.documentCreated("orders", {{
    lines: [{{ price: 3, quantity: 2 }}, {{ price: 5, quantity: 1 }}],
  }});

  await platform.invoke(total, created);

  assert.deepEqual(platform.document("order_totals", created.key), {{ order: created.key, total: 11 }});
}});

Deno.test("a retried event writes the same total, not a second one", async () => {{
  using platform = new TestPlatform({{ manifest }});
  const created = platform.documentCreated("orders", {{ lines: [{{ price: 2, quantity: 1 }}] }});

  await platform.invoke(total, created);
  await platform.invoke(total, created, {{ attempt: 2 }});

  assert.equal(platform.documents("order_totals").length, 1);
}});
"""

OBJECT_MAIN = """\
/** Runs for each file uploaded under `inbox/` in the `uploads` bucket: stores a summary of it. */
import {{ db, onObjectCreated, storage }} from "baas";

export const summarize = onObjectCreated("uploads", {{ prefix: "inbox/" }}, async (event) => {{
  const text = new TextDecoder().decode(await storage.read(event.bucket, event.path));
  const lines = text === "" ? 0 : text.replace(/\\r?\\n$/, "").split(/\\r?\\n/).length;
  const words = text.split(/\\s+/).filter(Boolean).length;
  // Keyed on the event: a retry overwrites its own summary.
  await db.collection("file_summaries").set(event.id, {{ path: event.path, lines, words }});
}});
"""

OBJECT_TEST = """\
import assert from "node:assert/strict";
import {{ TestPlatform }} from "baas/testing";
import manifest from "./baas.json" with {{ type: "json" }};
import {{ summarize }} from "./main.ts";

Deno.test("an upload gets a summary", async () => {{
  using platform = new TestPlatform({{ manifest }});
  const uploaded = platform.objectCreated("uploads", "inbox/notes.txt", "one two\\nthree\\n", {{
    contentType: "text/plain",
  }});

  await platform.invoke(summarize, uploaded);

  const [summary] = platform.documents("file_summaries");
  assert.deepEqual(summary.data, {{ path: "inbox/notes.txt", lines: 2, words: 3 }});
}});
"""

SCHEDULE_MAIN = """\
/** Runs every hour: removes the `sessions` documents that have expired. */
import {{ db, logger, onSchedule }} from "baas";

export const sweep = onSchedule({{ every: 3600 }}, async (event) => {{
  const sessions = db.collection("sessions");
  const now = Math.floor(Date.parse(event.time) / 1000);
  const expired = await sessions.list({{ filter: `expires_at < ${{now}}`, limit: 100 }});
  for (const session of expired) await sessions.delete(session.id);
  logger.info(`removed ${{expired.length}} expired sessions`);
  return {{ removed: expired.length }};
}});
"""

SCHEDULE_TEST = """\
import assert from "node:assert/strict";
import {{ TestPlatform }} from "baas/testing";
import manifest from "./baas.json" with {{ type: "json" }};
import {{ sweep }} from "./main.ts";

Deno.test("expired sessions are swept", async () => {{
  using platform = new TestPlatform({{ manifest }});
  const now = Math.floor(Date.now() / 1000);
  const old = platform.seed("sessions", {{ expires_at: now - 60 }});
  const fresh = platform.seed("sessions", {{ expires_at: now + 3600 }});

  const answer = await platform.invoke(sweep, platform.schedule({{ every: 3600 }}));

  assert.deepEqual(answer, {{ removed: 1 }});
  assert.deepEqual(platform.documents("sessions").map((doc) => doc.id), [fresh.id]);
  assert.ok(old.id !== fresh.id);
}});
"""

_FILES: dict[str, tuple[str, str, list[str]]] = {
    # template: (main.ts, main_test.ts, permissions)
    "http": (HTTP_MAIN, HTTP_TEST, []),
    "document": (DOCUMENT_MAIN, DOCUMENT_TEST, ["db:read:orders", "db:write:order_totals"]),
    "object": (OBJECT_MAIN, OBJECT_TEST, ["storage:read:uploads", "db:write:file_summaries"]),
    "schedule": (SCHEDULE_MAIN, SCHEDULE_TEST, ["db:read:sessions", "db:write:sessions"]),
}

GITIGNORE = "node_modules/\n"
TASKS = {"test": "deno test", "check": "deno check main.ts main_test.ts"}


def files_of(template: str, name: str) -> dict[str, str]:
    """The files of a new TypeScript function folder: path → text (`.baas-ts/` included)."""
    main, test, permissions = _FILES[template]
    manifest: dict[str, Any] = {
        "name": name,
        "entry": "main.ts",
        "runtime": "deno",
        "timeout": 10,
        "permissions": permissions,
    }
    if template == "http":
        manifest["invoke"] = "authenticated"
    if template in ("document", "object"):
        manifest["max_retries"] = 3
    return {
        "main.ts": main.format(name=name),
        "main_test.ts": test.format(name=name),
        "baas.json": json.dumps(manifest, indent=2) + "\n",
        "deno.json": json.dumps(types.deno_config({"tasks": TASKS, "fmt": {"lineWidth": 120}}), indent=2) + "\n",
        ".gitignore": GITIGNORE,
        **types.module_files(),
    }
