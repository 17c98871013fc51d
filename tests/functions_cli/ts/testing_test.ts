// The harness's own tests (`baas/testing`), run by tests/functions_cli/test_deno_harness.py.
import assert from "node:assert/strict";

import {
  BaasError,
  Conflict,
  db,
  logger,
  NotFound,
  onDocumentCreated,
  onDocumentDeleted,
  onDocumentUpdated,
  onDocumentWritten,
  onHttp,
  onObjectCreated,
  onObjectDeleted,
  onSchedule,
  PermissionDenied,
  secrets,
  storage,
} from "../../../baas_runtime/deno/mod.ts";
import { FakeUnsupported, TestPlatform } from "../../../baas_runtime/deno/testing.ts";

Deno.test("documents: create, get, set, update with ops, delete, versions and ids", async () => {
  using platform = new TestPlatform();
  const notes = db.collection("notes");
  const made = await notes.create({ title: "a", tags: ["x"] });
  assert.match(made.id, /^[A-Za-z0-9]{20}$/);
  assert.equal(made.version, 1);
  assert.equal(made.collection, "notes");
  assert.deepEqual((await notes.get(made.id)).data, { title: "a", tags: ["x"] });

  const named = await notes.create({ title: "b" }, "fixed-id");
  assert.equal(named.id, "fixed-id");
  await assert.rejects(notes.create({}, "fixed-id"), Conflict);

  const replaced = await notes.set(made.id, { title: "c", count: 1 });
  assert.equal(replaced.version, 2);
  assert.equal(replaced.created_at, made.created_at);
  const updated = await notes.update(made.id, { extra: true }, {
    count: { increment: 2 },
    tags: { array_union: ["y", "y"] },
    title: { delete: true },
  });
  assert.deepEqual(updated.data, { count: 3, extra: true, tags: ["y"] });
  assert.equal(updated.version, 3);

  await notes.delete(made.id);
  await assert.rejects(notes.get(made.id), NotFound);
  await assert.rejects(notes.delete(made.id), NotFound);
  assert.deepEqual(platform.documents("notes").map((doc) => doc.id), ["fixed-id"]);
  assert.deepEqual(platform.writes.map((call) => call.method), [
    "db.create",
    "db.create",
    "db.set",
    "db.update",
    "db.delete",
  ]);
});

Deno.test("documents: list filters, orders and limits; a filter the fake cannot read is said plainly", async () => {
  using platform = new TestPlatform();
  for (const [id, score, tag] of [["a", 5, "red"], ["b", 1, "blue"], ["c", 9, "red"], ["d", 3, "red"]] as const) {
    platform.seed("games", { score, tag, nested: { level: score * 10 } }, id);
  }
  const games = db.collection("games");
  const ids = (docs: { id: string }[]) => docs.map((doc) => doc.id);
  assert.deepEqual(ids(await games.list()), ["a", "b", "c", "d"]);
  assert.deepEqual(ids(await games.list({ filter: 'tag == "red" && score >= 5' })), ["a", "c"]);
  assert.deepEqual(ids(await games.list({ filter: "nested.level < 40", order: "-score" })), ["d", "b"]);
  assert.deepEqual(ids(await games.list({ filter: "tag != 'red'" })), ["b"]);
  assert.deepEqual(ids(await games.list({ filter: "missing == 1" })), []);
  assert.deepEqual(ids(await games.list({ order: "score", limit: 2 })), ["b", "d"]);
  await assert.rejects(games.list({ filter: "score > 1 || tag == 'red'" }), FakeUnsupported);
  await assert.rejects(games.list({ filter: "tag in ['red']" }), /not supported by baas\/testing's fake/);
});

Deno.test("storage: write, read, sign, delete; grants refuse what the manifest does not allow", async () => {
  using platform = new TestPlatform({ permissions: ["storage:read:*", "storage:write:out", "db:read:notes"] });
  platform.seedObject("in", "a.txt", "hello", "text/plain");
  assert.equal(new TextDecoder().decode(await storage.read("in", "a.txt")), "hello");
  const written = await storage.write("out", "b.bin", new Uint8Array([0, 255, 7]));
  assert.equal(written.size, 3);
  assert.deepEqual([...platform.object("out", "b.bin")], [0, 255, 7]);
  assert.match(await storage.sign("out", "b.bin", 60), /^https:\/\/.*b\.bin\?expires=\d+/);
  await storage.delete("out", "b.bin");
  assert.throws(() => platform.object("out", "b.bin"), /no object b\.bin in out/);
  await assert.rejects(storage.read("out", "b.bin"), NotFound);

  const refused = await storage.write("in", "x", "no").catch((error) => error);
  assert.ok(refused instanceof PermissionDenied);
  assert.equal(refused.code, "permission_denied");
  assert.equal(refused.message, "this function has no storage:write:in permission");
  await assert.rejects(db.collection("notes").create({}), /no db:write:notes permission/);
  await assert.rejects(db.collection("other").get("x"), PermissionDenied);
  assert.deepEqual(platform.objects("out"), []);
});

Deno.test("secrets and env come from the options and the manifest; the transport is restored after", async () => {
  {
    using _platform = new TestPlatform({ manifest: { env: { MODE: "test" } }, secrets: { KEY: "k1" } });
    assert.equal(secrets.get("KEY"), "k1");
    assert.equal(secrets.require("MODE"), "test");
    assert.equal(secrets.get("NOPE"), undefined);
    assert.throws(() => secrets.require("NOPE"), (error: BaasError) => error.code === "missing_secret");
  }
  assert.equal(secrets.get("KEY"), undefined);
  await assert.rejects(db.collection("x").get("y"), /only inside a deployed function or a baas\/testing harness/);
});

Deno.test("document events have the server's shape and each trigger kind receives its own", async () => {
  using platform = new TestPlatform({ name: "audit" });
  const seen: unknown[] = [];
  const record = (event: unknown, ctx: unknown) => void seen.push({ event, ctx });
  const created = platform.documentCreated("orders", { total: 5 }, { actor: { kind: "user", id: "u1", role: "user" } });
  assert.deepEqual(Object.keys(created).sort(), [
    "actor",
    "before",
    "causation",
    "collection",
    "depth",
    "doc",
    "id",
    "key",
    "seq",
    "time",
    "type",
  ]);
  assert.equal(created.type, "document.created");
  assert.equal(created.doc?.data.total, 5);
  assert.equal(created.before, null);
  assert.deepEqual(platform.document("orders", created.key), { total: 5 });

  const updated = platform.documentUpdated("orders", created.key, { total: 6 });
  assert.equal(updated.before?.data.total, 5);
  assert.equal(updated.doc?.version, 2);
  assert.ok(Number(updated.id) > Number(created.id));
  const deleted = platform.documentDeleted("orders", created.key);
  assert.equal(deleted.doc, null);
  assert.equal(deleted.before?.data.total, 6);

  await platform.invoke(onDocumentCreated("orders", record), created);
  await platform.invoke(onDocumentUpdated("orders", record), updated);
  await platform.invoke(onDocumentDeleted("orders", record), deleted);
  for (const event of [created, updated, deleted]) await platform.invoke(onDocumentWritten("orders", record), event);
  assert.equal(seen.length, 6);
  const { ctx } = seen[0] as { ctx: Record<string, unknown> & { remaining(): number } };
  assert.equal(ctx.function, "audit");
  assert.equal(ctx.event_id, created.id);
  assert.equal(ctx.trigger, "document.created");
  assert.equal(ctx.attempt, 1);
  assert.ok(ctx.remaining() > 9000 && ctx.remaining() <= 10000);

  await assert.rejects(platform.invoke(onDocumentUpdated("orders", record), created), /would not receive this event/);
  await assert.rejects(platform.invoke(onDocumentCreated("other", record), created), /collection orders/);
});

Deno.test("object, http and schedule events; results are what callers get, as JSON", async () => {
  using platform = new TestPlatform();
  const uploaded = platform.objectCreated("uploads", "inbox/a.txt", "one two", { contentType: "text/plain" });
  assert.equal(uploaded.type, "object.created");
  assert.equal(uploaded.object?.size, 7);
  assert.equal(uploaded.object?.content_type, "text/plain");
  const sized = onObjectCreated(
    "uploads",
    { prefix: "inbox/" },
    async (event) => (await storage.read(event.bucket, event.path)).length,
  );
  assert.equal(await platform.invoke(sized, uploaded), 7);
  const elsewhere = platform.objectCreated("uploads", "outbox/b.txt", "x");
  await assert.rejects(platform.invoke(sized, elsewhere), /does not start with inbox\//);
  const removed = platform.objectDeleted("uploads", "inbox/a.txt");
  assert.equal(removed.before?.path, "inbox/a.txt");
  assert.equal(await platform.invoke(onObjectDeleted("uploads", (event) => event.object), removed), null);

  const hello = onHttp((event) => ({
    hi: (event.payload as { name?: string } | null)?.name ?? "world",
    when: new Date(0),
  }));
  assert.deepEqual(await platform.invoke(hello, platform.http({ name: "Ada" })), {
    hi: "Ada",
    when: "1970-01-01T00:00:00.000Z",
  });
  assert.equal(await platform.invoke(onHttp(() => undefined), platform.http()), null);
  const hook = platform.http(undefined, {
    method: "post",
    path: "/stripe",
    headers: { "X-Sig": "s" },
    body: '{"a":1}',
  });
  assert.equal(hook.method, "POST");
  assert.deepEqual(hook.headers, { "x-sig": "s" });
  assert.deepEqual(hook.payload, { a: 1 });
  const answer = await platform.invoke(onHttp(() => new Response("ok", { status: 201 })), hook);
  assert.ok(answer instanceof Response && answer.status === 201);
  await answer.body?.cancel();

  const tick = platform.schedule({ every: 30 });
  assert.equal(tick.type, "schedule");
  assert.equal(tick.every, 30);
  assert.equal(tick.seq, null);
  assert.match(tick.id, /^schedule:/);
  assert.equal(await platform.invoke(onSchedule({ every: 30 }, (event) => event.every), tick), 30);
  await assert.rejects(
    platform.invoke(onSchedule({ every: 30 }, () => 1), platform.http() as never),
    /it is a http event/,
  );
});

Deno.test("a handler that throws makes invoke throw the same error; its logs are kept", async () => {
  using platform = new TestPlatform();
  const broken = onHttp(() => {
    logger.info("about to fail", { step: 1 });
    throw new Error("boom");
  });
  await assert.rejects(platform.invoke(broken, platform.http()), /boom/);
  assert.deepEqual(platform.logs, ["INFO about to fail { step: 1 }"]);
  const chosen = onHttp(() => {
    throw new BaasError("Nothing left", "out_of_stock");
  });
  await assert.rejects(platform.invoke(chosen, platform.http()), (error: BaasError) => error.code === "out_of_stock");
  await assert.rejects(
    platform.invoke({ trigger: { type: "http" }, handler: () => 1 } as never, platform.http()),
    /declared handler/,
  );
});

Deno.test("a handler past its timeout fails the invoke", async () => {
  using platform = new TestPlatform({ timeout: 0.05 });
  let stop: () => void = () => {};
  const slow = onHttp(() => new Promise<void>((resolve) => (stop = resolve)));
  await assert.rejects(platform.invoke(slow, platform.http()), /ran longer than 0.05 s/);
  stop();
});
