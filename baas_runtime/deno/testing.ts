/**
 * `baas/testing`: test TypeScript functions with `deno test`, in memory, with no server.
 *
 *     import { assertEquals } from "jsr:@std/assert";   // or your own asserts
 *     import { TestPlatform } from "baas/testing";
 *     import manifest from "./baas.json" with { type: "json" };
 *     import { total } from "./main.ts";
 *
 *     Deno.test("a new order gets its total", async () => {
 *       using platform = new TestPlatform({ manifest });
 *       const event = platform.documentCreated("orders", { lines: [{ price: 3, quantity: 2 }] });
 *       await platform.invoke(total, event);
 *       assertEquals(platform.document("order_totals", event.key).total, 6);
 *     });
 *
 * A `TestPlatform` installs itself as the `baas` module's Transport (`useTransport`) until it is
 * disposed: `db`, `storage` and `secrets` in the handler reach its in-memory documents, objects and
 * secrets. With `permissions` (or a manifest's), a call outside them fails with PermissionDenied,
 * as it would on the server. Events are made as the server makes them: `documentCreated` writes the
 * document, then returns the event a trigger would receive.
 *
 * It is a fake, not the platform: the rules language is understood only in its simplest form
 * (`field op literal` joined by `&&`; anything else throws `FakeUnsupported`), there are no
 * collection or bucket rules, no quotas, no retries and no sandbox. The Python harness
 * (`baas_runtime.testing`) runs the real platform when you need it.
 */

import {
  _bytes,
  BaasError,
  Conflict,
  type Context,
  type Declared,
  type Document,
  type DocumentEvent,
  type HttpEvent,
  InvalidRequest,
  isDeclared,
  type Json,
  type JsonObject,
  NotFound,
  type ObjectEvent,
  PermissionDenied,
  type ScheduleEvent,
  type StoredObject,
  type Transport,
  type TriggerEvent,
  useTransport,
} from "./mod.ts";

/** What `new TestPlatform(...)` takes; every field is optional. */
export interface TestPlatformOptions {
  /** The function's `baas.json` (import it: `import manifest from "./baas.json" with { type: "json" }`):
   * its name, permissions, env and timeout apply unless given here too. */
  manifest?: { name?: string; permissions?: string[]; env?: Record<string, string>; timeout?: number };
  /** The grants (`db:read:orders`, `storage:write:*`…); a call outside them is refused. Without
   * them (and without a manifest) every call is allowed. */
  permissions?: string[];
  /** Secrets of the version (`secrets.get`), added to the manifest's `env`. */
  secrets?: Record<string, string>;
  /** The function's name (`ctx.function`); default the manifest's, else "test". */
  name?: string;
  /** Seconds before `invoke` gives up on a handler (`ctx.deadline`); default the manifest's, else 10. */
  timeout?: number;
  /** The clock of documents, objects and events; default `() => new Date()`. */
  now?: () => Date;
}

/** A call the handler made through `db`, `storage` (in order), with its arguments as sent and,
 * when the platform refused it, the error's code. */
export interface Call {
  method: string;
  args: Record<string, Json | undefined>;
  error?: string;
}

/** The fake cannot evaluate this (a filter or order beyond its simple subset). */
export class FakeUnsupported extends Error {
  constructor(message: string) {
    super(`${message} (not supported by baas/testing's fake; test it against the real platform)`);
    this.name = "FakeUnsupported";
  }
}

const WRITES = new Set(["db.create", "db.set", "db.update", "db.delete", "storage.write", "storage.delete"]);

interface StoredBytes {
  meta: StoredObject;
  data: Uint8Array;
}

/** An in-memory platform for one test; see the module's documentation. */
export class TestPlatform implements Transport {
  /** Every platform call of the handlers, in order. */
  readonly calls: Call[] = [];
  /** The lines handlers wrote with `logger` or `console`, during `invoke`. */
  readonly logs: string[] = [];
  readonly name: string;
  readonly timeout: number;
  private readonly permissions: string[] | null;
  private readonly secretValues: Record<string, string>;
  private readonly now: () => Date;
  private readonly collections = new Map<string, Map<string, Document>>();
  private readonly buckets = new Map<string, Map<string, StoredBytes>>();
  private readonly previous: Transport;
  private seq = 0;
  private closed = false;

  constructor(options: TestPlatformOptions = {}) {
    const manifest = options.manifest ?? {};
    this.name = options.name ?? manifest.name ?? "test";
    this.timeout = options.timeout ?? manifest.timeout ?? 10;
    const permissions = options.permissions ?? manifest.permissions;
    this.permissions = permissions === undefined ? null : [...permissions];
    this.secretValues = { ...(manifest.env ?? {}), ...(options.secrets ?? {}) };
    this.now = options.now ?? (() => new Date());
    this.previous = useTransport(this);
  }

  /** Puts the previous Transport back (`using platform = …` does it at the end of the block). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    useTransport(this.previous);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // --- Transport ---------------------------------------------------------------------------------

  call(method: string, args: Record<string, Json | undefined>): Promise<Json> {
    const call: Call = { method, args: structuredClone(args) };
    this.calls.push(call);
    try {
      return Promise.resolve(this.perform(method, args));
    } catch (error) {
      call.error = error instanceof BaasError ? error.code : String(error);
      return Promise.reject(error);
    }
  }

  secret(name: string): string | undefined {
    return Object.hasOwn(this.secretValues, name) ? this.secretValues[name] : undefined;
  }

  private perform(method: string, a: Record<string, Json | undefined>): Json {
    switch (method) {
      case "db.create":
        return this.dbCreate(this.require("db", "write", a.collection), a) as unknown as Json;
      case "db.get":
        return this.existing(this.require("db", "read", a.collection), text(a.id, "id")) as unknown as Json;
      case "db.list":
        return this.dbList(this.require("db", "read", a.collection), a) as unknown as Json;
      case "db.set":
        return this.put(this.require("db", "write", a.collection), text(a.id, "id"), object(a.data)) as unknown as Json;
      case "db.update":
        return this.dbUpdate(this.require("db", "write", a.collection), a) as unknown as Json;
      case "db.delete":
        this.remove(this.require("db", "write", a.collection), text(a.id, "id"));
        return null;
      case "storage.read":
        return _bytes.toBase64(this.stored(this.require("storage", "read", a.bucket), text(a.path, "path")).data);
      case "storage.write":
        return this.write(
          this.require("storage", "write", a.bucket),
          text(a.path, "path"),
          _bytes.fromBase64(text(a.data, "data")),
          typeof a.content_type === "string" ? a.content_type : undefined,
        ) as unknown as Json;
      case "storage.delete":
        this.unstore(this.require("storage", "write", a.bucket), text(a.path, "path"));
        return null;
      case "storage.sign": {
        const bucket = this.require("storage", "read", a.bucket);
        const path = text(a.path, "path");
        this.stored(bucket, path);
        const expires = Math.trunc(this.now().getTime() / 1000) + Number(a.expires_in ?? 3600);
        return `https://baas.test/v1/storage/buckets/${bucket}/objects/${
          encodeURI(path)
        }?expires=${expires}&signature=fake`;
      }
      default:
        throw new InvalidRequest(`unknown call ${JSON.stringify(method)}`);
    }
  }

  /** As the server's bridge: `db|storage:read|write:<name or *>`. */
  private require(service: "db" | "storage", access: "read" | "write", name: Json | undefined): string {
    if (typeof name !== "string" || name === "") {
      throw new InvalidRequest(`a ${service === "db" ? "collection" : "bucket"} name is required.`);
    }
    const granted = this.permissions === null || this.permissions.includes(`${service}:${access}:${name}`) ||
      this.permissions.includes(`${service}:${access}:*`);
    if (!granted) throw new PermissionDenied(`this function has no ${service}:${access}:${name} permission`);
    return name;
  }

  // --- documents ---------------------------------------------------------------------------------

  private collection(name: string): Map<string, Document> {
    let found = this.collections.get(name);
    if (!found) this.collections.set(name, found = new Map());
    return found;
  }

  private existing(collection: string, id: string): Document {
    const doc = this.collection(collection).get(id);
    if (!doc) throw new NotFound(`No document ${id} in ${collection}.`);
    return structuredClone(doc);
  }

  private dbCreate(collection: string, a: Record<string, Json | undefined>): Document {
    const id = a.id === null || a.id === undefined ? newId() : text(a.id, "id");
    if (this.collection(collection).has(id)) throw new Conflict(`A document ${id} already exists in ${collection}.`);
    return this.put(collection, id, object(a.data));
  }

  private put(collection: string, id: string, data: JsonObject): Document {
    const docs = this.collection(collection);
    const before = docs.get(id);
    const now = this.now().toISOString();
    const doc: Document = {
      id,
      collection,
      data: structuredClone(data),
      owner: null,
      version: before ? before.version + 1 : 1,
      created_at: before?.created_at ?? now,
      updated_at: now,
    };
    docs.set(id, doc);
    return structuredClone(doc);
  }

  private dbUpdate(collection: string, a: Record<string, Json | undefined>): Document {
    const id = text(a.id, "id");
    const current = this.existing(collection, id);
    const data = { ...current.data, ...(a.data ? object(a.data) : {}) };
    if (a.ops !== null && a.ops !== undefined) applyOps(data, a.ops, this.now().toISOString());
    return this.put(collection, id, data);
  }

  private remove(collection: string, id: string): Document {
    const doc = this.existing(collection, id);
    this.collection(collection).delete(id);
    return doc;
  }

  private dbList(collection: string, a: Record<string, Json | undefined>): Document[] {
    const matches = compileFilter(typeof a.filter === "string" ? a.filter : null);
    let docs = [...this.collection(collection).values()].filter(matches);
    docs = sortDocuments(docs, typeof a.order === "string" ? a.order : null);
    const limit = typeof a.limit === "number" ? a.limit : 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw new InvalidRequest("limit must be a whole number from 1 to 100.");
    }
    return structuredClone(docs.slice(0, limit));
  }

  // --- storage -----------------------------------------------------------------------------------

  private bucket(name: string): Map<string, StoredBytes> {
    let found = this.buckets.get(name);
    if (!found) this.buckets.set(name, found = new Map());
    return found;
  }

  private stored(bucket: string, path: string): StoredBytes {
    const found = this.bucket(bucket).get(path);
    if (!found) throw new NotFound(`No object ${path} in ${bucket}.`);
    return found;
  }

  private write(bucket: string, path: string, data: Uint8Array, contentType?: string): StoredObject {
    const before = this.bucket(bucket).get(path);
    const now = this.now().toISOString();
    const meta: StoredObject = {
      bucket,
      path,
      size: data.length,
      content_type: contentType ?? "application/octet-stream",
      etag: etagOf(data),
      owner: null,
      metadata: {},
      created_at: before?.meta.created_at ?? now,
      updated_at: now,
    };
    this.bucket(bucket).set(path, { meta, data: data.slice() });
    return structuredClone(meta);
  }

  private unstore(bucket: string, path: string): StoredObject {
    const found = this.stored(bucket, path);
    this.bucket(bucket).delete(path);
    return structuredClone(found.meta);
  }

  // --- what a test arranges and asserts ----------------------------------------------------------

  /** Stores a document before the test (no event, no grant check); returns it. */
  seed(collection: string, data: JsonObject, id?: string): Document {
    return this.put(collection, id ?? newId(), data);
  }

  /** Stores an object before the test (no event, no grant check); returns its metadata. */
  seedObject(bucket: string, path: string, data: Uint8Array | string, contentType?: string): StoredObject {
    return this.write(bucket, path, toBytes(data), contentType);
  }

  /** A document's data; throws (naming what the collection holds) when there is none. */
  document(collection: string, id: string): JsonObject {
    const doc = this.collection(collection).get(id);
    if (!doc) {
      const ids = [...this.collection(collection).keys()];
      throw new Error(`no document ${id} in ${collection} (it holds ${ids.length ? ids.join(", ") : "none"})`);
    }
    return structuredClone(doc.data);
  }

  /** Every document of a collection (`{id, data, version, …}`), in the order they were first written. */
  documents(collection: string): Document[] {
    return structuredClone([...this.collection(collection).values()]);
  }

  /** An object's bytes; throws when there is none. */
  object(bucket: string, path: string): Uint8Array {
    const found = this.bucket(bucket).get(path);
    if (!found) {
      const paths = [...this.bucket(bucket).keys()];
      throw new Error(`no object ${path} in ${bucket} (it holds ${paths.length ? paths.join(", ") : "none"})`);
    }
    return found.data.slice();
  }

  /** An object's text (UTF-8). */
  text(bucket: string, path: string): string {
    return new TextDecoder().decode(this.object(bucket, path));
  }

  /** The metadata of every object of a bucket. */
  objects(bucket: string): StoredObject[] {
    return structuredClone([...this.bucket(bucket).values()].map((item) => item.meta));
  }

  /** The calls that changed something (`db.create`, `db.set`, `db.update`, `db.delete`,
   * `storage.write`, `storage.delete`), refused ones left out. */
  get writes(): Call[] {
    return this.calls.filter((call) => WRITES.has(call.method) && call.error === undefined);
  }

  // --- events, as the server makes them ------------------------------------------------------------

  private base(): { id: string; time: string; seq: number; depth: number } {
    this.seq += 1;
    return { id: String(this.seq), time: this.now().toISOString(), seq: this.seq, depth: 0 };
  }

  private documentEvent(
    type: DocumentEvent["type"],
    collection: string,
    key: string,
    doc: Document | null,
    before: Document | null,
    actor: JsonObject | null,
  ): DocumentEvent {
    const base = this.base();
    return { ...base, type, collection, key, doc, before, actor, causation: { invocation_id: null, depth: 0 } };
  }

  private objectEvent(
    type: ObjectEvent["type"],
    bucket: string,
    path: string,
    object: StoredObject | null,
    before: StoredObject | null,
    actor: JsonObject | null,
  ): ObjectEvent {
    const base = this.base();
    return { ...base, type, bucket, path, object, before, actor, causation: { invocation_id: null, depth: 0 } };
  }

  /** Writes the document (`id` or a new one), returns the `document.created` event. */
  documentCreated(collection: string, data: JsonObject, options: EventOptions & { id?: string } = {}): DocumentEvent {
    const id = options.id ?? newId();
    if (this.collection(collection).has(id)) throw new Error(`${collection}/${id} exists already`);
    const doc = this.put(collection, id, data);
    return this.documentEvent("document.created", collection, id, doc, null, options.actor ?? null);
  }

  /** Replaces the document's data (it must exist: `seed` it), returns the `document.updated` event. */
  documentUpdated(collection: string, id: string, data: JsonObject, options: EventOptions = {}): DocumentEvent {
    const before = this.existing(collection, id);
    const doc = this.put(collection, id, data);
    return this.documentEvent("document.updated", collection, id, doc, before, options.actor ?? null);
  }

  /** Deletes the document (it must exist), returns the `document.deleted` event. */
  documentDeleted(collection: string, id: string, options: EventOptions = {}): DocumentEvent {
    const before = this.remove(collection, id);
    return this.documentEvent("document.deleted", collection, id, null, before, options.actor ?? null);
  }

  /** Stores the object, returns the `object.created` event (`before` is set for an overwrite). */
  objectCreated(
    bucket: string,
    path: string,
    data: Uint8Array | string,
    options: EventOptions & { contentType?: string } = {},
  ): ObjectEvent {
    const previous = this.bucket(bucket).get(path);
    const before = previous ? structuredClone(previous.meta) : null;
    const object = this.write(bucket, path, toBytes(data), options.contentType);
    return this.objectEvent("object.created", bucket, path, object, before, options.actor ?? null);
  }

  /** Removes the object (it must exist), returns the `object.deleted` event. */
  objectDeleted(bucket: string, path: string, options: EventOptions = {}): ObjectEvent {
    const before = this.unstore(bucket, path);
    return this.objectEvent("object.deleted", bucket, path, null, before, options.actor ?? null);
  }

  /** A call of the HTTP handler: `payload` as `client.functions.invoke(name, payload)` sends it. */
  http(payload: Json = null, options: HttpOptions = {}): HttpEvent {
    const event: HttpEvent = { type: "http", payload, auth: options.auth ?? null };
    if (options.method !== undefined || options.path !== undefined || options.body !== undefined) {
      const body = options.body === undefined ? new Uint8Array() : toBytes(options.body);
      event.method = (options.method ?? "POST").toUpperCase();
      event.path = options.path ?? "/";
      event.query = { ...(options.query ?? {}) };
      event.headers = Object.fromEntries(
        Object.entries(options.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
      );
      event.body = new Uint8Array(body); // its own ArrayBuffer, as the runtime hands it over
      if (options.body === undefined) event.payload = null;
      else {
        try {
          event.payload = JSON.parse(new TextDecoder().decode(body));
        } catch {
          event.payload = null;
        }
      }
    }
    return event;
  }

  /** A run of a schedule: `{cron}` or `{every}` as declared (default `{every: 60}`). */
  schedule(spec: { cron?: string; every?: number; timezone?: string } = {}): ScheduleEvent {
    const base = this.base();
    return {
      ...base,
      id: `schedule:${crypto.randomUUID()}`,
      type: "schedule",
      cron: spec.cron ?? null,
      every: spec.cron ? null : spec.every ?? 60,
      timezone: spec.timezone ?? "UTC",
      seq: null,
    };
  }

  // --- running a handler -------------------------------------------------------------------------

  /**
   * Runs a declared handler (an export of your module) on `event` as the server would: checks the
   * event is one its trigger receives, makes its `ctx`, captures its logs into `logs`, and returns
   * what its callers would get (the result as JSON, or a `Response` from an HTTP handler). A
   * handler that throws makes `invoke` throw the same error; one that runs past the timeout
   * throws a timeout error.
   */
  async invoke<E extends TriggerEvent>(
    declared: Declared<E>,
    event: E,
    context: Partial<Omit<Context, "remaining">> = {},
  ): Promise<unknown> {
    if (this.closed) throw new Error("this TestPlatform is closed");
    if (!isDeclared(declared)) {
      throw new TypeError("invoke takes an export made by onDocumentCreated, onHttp, … (a declared handler)");
    }
    checkDelivered(declared, event as TriggerEvent);
    const deadline = Date.now() + this.timeout * 1000;
    const ctx: Context = {
      invocation_id: crypto.randomUUID(),
      event_id: (event as { id?: string }).id ?? null,
      attempt: 1,
      deadline,
      function: this.name,
      version: 1,
      trigger: declared.trigger.type,
      ...context,
      remaining: () => Math.max(0, deadline - Date.now()),
    };
    const restore = this.captureLogs();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const running = Promise.resolve().then(() => declared.handler(event, ctx));
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new BaasError(`the handler ran longer than ${this.timeout} s`, "timeout")),
          this.timeout * 1000,
        );
      });
      const result = await Promise.race([running, late]);
      if (result instanceof Response) return result;
      return result === undefined ? null : JSON.parse(JSON.stringify(result));
    } finally {
      clearTimeout(timer);
      restore();
    }
  }

  private captureLogs(): () => void {
    const original = { log: console.log, info: console.info, warn: console.warn, error: console.error };
    const keep = (...parts: unknown[]) => {
      const line = parts.map((part) => (typeof part === "string" ? part : Deno.inspect(part))).join(" ");
      this.logs.push(line);
      original.error(line); // shown by `deno test` when the test fails
    };
    Object.assign(console, { log: keep, info: keep, warn: keep, error: keep });
    return () => Object.assign(console, original);
  }
}

/** Who made the change behind an event: `{kind, id, role}` (default null: the platform itself). */
export interface EventOptions {
  actor?: JsonObject | null;
}

/** An HTTP call; `method`, `path`, `query`, `headers` or `body` make it a webhook call at `/http/{path}`. */
export interface HttpOptions {
  auth?: HttpEvent["auth"];
  method?: string;
  path?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

// --- helpers -----------------------------------------------------------------------------------------

const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** 20 letters and digits, like the server's document ids. */
function newId(): string {
  const out: string[] = [];
  while (out.length < 20) {
    for (const byte of crypto.getRandomValues(new Uint8Array(32))) {
      if (byte < 248 && out.length < 20) out.push(ID_ALPHABET[byte % 62]);
    }
  }
  return out.join("");
}

function text(value: Json | undefined, what: string): string {
  if (typeof value !== "string" || value === "") throw new InvalidRequest(`${what} must be a non-empty string.`);
  return value;
}

function object(value: Json | undefined): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidRequest("data must be a JSON object.");
  }
  return value;
}

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? new TextEncoder().encode(data) : data;
}

/** A stand-in etag (FNV-1a): changes with the bytes, like the server's. */
function etagOf(data: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (const byte of data) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return `"${hash.toString(16).padStart(8, "0")}-${data.length}"`;
}

/** PATCH's atomic ops, as the server applies them: `{"a.b": {"increment": 1}}`, `array_union`,
 * `array_remove`, `delete`, `server_timestamp`. */
function applyOps(data: JsonObject, ops: Json, now: string): void {
  if (typeof ops !== "object" || ops === null || Array.isArray(ops)) throw new InvalidRequest("ops must be an object.");
  for (const [path, spec] of Object.entries(ops)) {
    if (typeof spec !== "object" || spec === null || Array.isArray(spec) || Object.keys(spec).length !== 1) {
      throw new InvalidRequest(
        `ops.${path}: give exactly one of increment, array_union, array_remove, delete, server_timestamp.`,
      );
    }
    const [name, argument] = Object.entries(spec)[0];
    const segments = path.split(".");
    let parent: JsonObject | null = data;
    for (const segment of segments.slice(0, -1)) {
      const child: Json | undefined = parent[segment];
      if (typeof child !== "object" || child === null || Array.isArray(child)) {
        if (name === "delete") {
          parent = null;
          break;
        }
        parent[segment] = {};
      }
      parent = parent[segment] as JsonObject;
    }
    if (parent === null) continue;
    const key = segments[segments.length - 1];
    const current = parent[key];
    const same = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);
    if (name === "increment" && typeof argument === "number") {
      parent[key] = (typeof current === "number" ? current : 0) + argument;
    } else if ((name === "array_union" || name === "array_remove") && Array.isArray(argument)) {
      const items = Array.isArray(current) ? [...current] : [];
      parent[key] = name === "array_union"
        ? [
          ...items,
          ...argument.filter((item, i) =>
            !items.some((old) => same(old, item)) && argument.findIndex((x) => same(x, item)) === i
          ),
        ]
        : items.filter((item) => !argument.some((gone) => same(item, gone)));
    } else if (name === "delete" && argument === true) delete parent[key];
    else if (name === "server_timestamp" && argument === true) parent[key] = now;
    else throw new InvalidRequest(`ops.${path}: ${JSON.stringify(spec)} is not a valid op.`);
  }
}

/** The handler's trigger would receive this event (type, collection or bucket, prefix). */
function checkDelivered(declared: Declared<unknown>, event: TriggerEvent): void {
  const trigger = declared.trigger;
  const refuse = (why: string) => {
    throw new TypeError(`this handler (${describe(trigger)}) would not receive this event: ${why}`);
  };
  if (typeof event !== "object" || event === null || typeof event.type !== "string") refuse("it has no type");
  if (trigger.type === "http" || trigger.type === "schedule") {
    if (event.type !== trigger.type) refuse(`it is a ${event.type} event`);
    return;
  }
  const [service, kind] = trigger.type.split(".");
  const [eventService, eventKind] = event.type.split(".");
  if (service !== eventService || !(kind === eventKind || (kind === "written" && service === "document"))) {
    refuse(`it is a ${event.type} event`);
  }
  if ("collection" in trigger && (event as DocumentEvent).collection !== trigger.collection) {
    refuse(`it is about the collection ${(event as DocumentEvent).collection}`);
  }
  if ("bucket" in trigger) {
    const objectEvent = event as ObjectEvent;
    if (objectEvent.bucket !== trigger.bucket) refuse(`it is about the bucket ${objectEvent.bucket}`);
    if (trigger.prefix && !objectEvent.path.startsWith(trigger.prefix)) {
      refuse(`its path ${objectEvent.path} does not start with ${trigger.prefix}`);
    }
  }
}

function describe(trigger: Declared<unknown>["trigger"]): string {
  if ("collection" in trigger) return `${trigger.type} on ${trigger.collection}`;
  if ("bucket" in trigger) return `${trigger.type} on ${trigger.bucket}${trigger.prefix ? `/${trigger.prefix}` : ""}`;
  return trigger.type;
}

// --- the fake's filter and order: a small subset of the rules language --------------------------------

type Comparison = { field: string; op: string; value: Json };

const TOKEN =
  /\s*(?:(&&)|(==|!=|<=|>=|<|>)|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(\$?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*))/y;

function tokenize(filter: string): string[][] {
  const tokens: string[][] = [];
  TOKEN.lastIndex = 0;
  let position = 0;
  while (position < filter.length) {
    if (filter.slice(position).trim() === "") break;
    TOKEN.lastIndex = position;
    const found = TOKEN.exec(filter);
    if (!found) {
      throw new FakeUnsupported(`the filter ${JSON.stringify(filter)} at ${JSON.stringify(filter.slice(position))}`);
    }
    tokens.push(found.slice(1));
    position = TOKEN.lastIndex;
  }
  return tokens;
}

function literal(token: string[] | undefined, filter: string): Json {
  if (!token) throw new FakeUnsupported(`the filter ${JSON.stringify(filter)}`);
  const [, , quoted, number, name] = token;
  if (quoted !== undefined) {
    const inner = quoted.slice(1, -1);
    return quoted.startsWith("'")
      ? JSON.parse(`"${inner.replace(/\\'/g, "'").replace(/"/g, '\\"')}"`)
      : JSON.parse(quoted);
  }
  if (number !== undefined) return Number(number);
  if (name === "true") return true;
  if (name === "false") return false;
  if (name === "null") return null;
  throw new FakeUnsupported(`the filter ${JSON.stringify(filter)}: only "field op literal" comparisons`);
}

function parseFilter(filter: string): Comparison[] {
  const tokens = tokenize(filter);
  const comparisons: Comparison[] = [];
  for (let i = 0; i < tokens.length; i += 4) {
    const [field, op, value, joiner] = [tokens[i], tokens[i + 1], tokens[i + 2], tokens[i + 3]];
    const name = field?.[4];
    if (!name || ["true", "false", "null", "auth", "now", "request"].includes(name.split(".")[0]) || !op?.[1]) {
      throw new FakeUnsupported(`the filter ${JSON.stringify(filter)}: only "field op literal" joined by &&`);
    }
    comparisons.push({ field: name, op: op[1], value: literal(value, filter) });
    if (joiner !== undefined && joiner[0] !== "&&") {
      throw new FakeUnsupported(`the filter ${JSON.stringify(filter)}: only "field op literal" joined by &&`);
    }
    if (joiner !== undefined && i + 4 >= tokens.length) {
      throw new FakeUnsupported(`the filter ${JSON.stringify(filter)}`);
    }
  }
  return comparisons;
}

const OWN: Record<string, (doc: Document) => Json> = {
  $id: (doc) => doc.id,
  $owner: (doc) => doc.owner,
  $version: (doc) => doc.version,
  $created_at: (doc) => doc.created_at,
  $updated_at: (doc) => doc.updated_at,
};

const MISSING = Symbol("missing");

function fieldOf(doc: Document, field: string): Json | typeof MISSING {
  if (field.startsWith("$")) {
    const own = OWN[field];
    if (!own) throw new FakeUnsupported(`the own field ${field}`);
    return own(doc);
  }
  let value: Json | typeof MISSING = doc.data;
  for (const part of field.split(".")) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.hasOwn(value, part)) {
      return MISSING;
    }
    value = (value as JsonObject)[part];
  }
  return value;
}

function compare(left: Json | typeof MISSING, op: string, right: Json): boolean {
  if (left === MISSING) return false;
  if (op === "==" || op === "!=") {
    const same = JSON.stringify(left) === JSON.stringify(right);
    return op === "==" ? same : !same;
  }
  const ordered = (typeof left === "number" && typeof right === "number") ||
    (typeof left === "string" && typeof right === "string");
  if (!ordered) return false;
  const [a, b] = [left as number | string, right as number | string];
  return op === "<" ? a < b : op === "<=" ? a <= b : op === ">" ? a > b : a >= b;
}

function compileFilter(filter: string | null): (doc: Document) => boolean {
  if (filter === null || filter.trim() === "") return () => true;
  const comparisons = parseFilter(filter);
  return (doc) => comparisons.every(({ field, op, value }) => compare(fieldOf(doc, field), op, value));
}

function sortDocuments(docs: Document[], order: string | null): Document[] {
  const fields = (order ?? "$id").split(",").map((part) => part.trim()).filter(Boolean);
  if (fields.length > 4) throw new InvalidRequest("at most 4 order fields.");
  const keys = fields.map((field) => ({ field: field.replace(/^-/, ""), descending: field.startsWith("-") }));
  const rank = (value: Json | typeof MISSING): [number, Json] => {
    if (value === MISSING || value === null) return [0, null];
    if (typeof value === "boolean") return [1, value];
    if (typeof value === "number") return [2, value];
    if (typeof value === "string") return [3, value];
    throw new FakeUnsupported("ordering by a list or an object");
  };
  return [...docs].sort((x, y) => {
    for (const { field, descending } of [...keys, { field: "$id", descending: false }]) {
      const [a, b] = [rank(fieldOf(x, field)), rank(fieldOf(y, field))];
      const sign = a[0] !== b[0] ? a[0] - b[0] : a[1]! < b[1]! ? -1 : a[1]! > b[1]! ? 1 : 0;
      if (sign !== 0) return descending ? -sign : sign;
    }
    return 0;
  });
}
