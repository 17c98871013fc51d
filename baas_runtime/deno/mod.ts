/**
 * The `baas` module: what a TypeScript or JavaScript function imports to declare its handlers and
 * to reach the platform. The same surface as Python's `baas_runtime`, async.
 *
 *     import { onDocumentCreated, onHttp, db } from "baas";
 *
 *     export const receipt = onDocumentCreated("orders", async (event, ctx) => {
 *       await db.collection("mail").create({ to: event.doc?.data.email });
 *     });
 *     export const hello = onHttp(async (event) => ({ hi: event.payload?.name ?? "world" }));
 *
 * A handler is an export whose value one of the `on…` functions made; the export's name is the
 * handler's name. Every `db`, `storage` and `secrets` call goes through one `Transport`: inside the
 * sandbox it is the worker's channel (runtime.ts), under `deno test` the fakes of testing.ts.
 *
 * Wire names are kept as the API spells them (snake_case: `event.invocation_id`), so an event or a
 * document reads the same here, in Python and in the REST API.
 */

// --- plain data ----------------------------------------------------------------------------------

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** A document as the REST API shows it. */
export interface Document {
  id: string;
  collection: string;
  data: JsonObject;
  owner: string | null;
  version: number;
  created_at: string;
  updated_at: string;
  [key: string]: Json | undefined;
}

/** An object's metadata as the storage API shows it. */
export interface StoredObject {
  bucket: string;
  path: string;
  size: number;
  content_type: string;
  etag: string;
  owner: string | null;
  metadata?: JsonObject;
  created_at: string;
  updated_at: string;
  [key: string]: Json | undefined;
}

/** Who caused an invocation: `{kind, id, email, role, claims}`, null for an anonymous caller. */
export interface Auth {
  kind: string;
  id: string | null;
  email: string | null;
  role: "user" | "anonymous_user" | "service" | string;
  claims: JsonObject;
}

interface EventBase {
  id: string;
  time: string;
  seq: number | null;
  depth: number;
}

export interface DocumentEvent extends EventBase {
  type: "document.created" | "document.updated" | "document.deleted";
  collection: string;
  key: string;
  /** The document as written; null after a delete. */
  doc: Document | null;
  /** The document before the write; null on a create. */
  before: Document | null;
  actor: JsonObject | null;
  causation: { invocation_id: string | null; depth: number } | null;
}

export interface ObjectEvent extends EventBase {
  type: "object.created" | "object.updated" | "object.deleted";
  bucket: string;
  path: string;
  object: StoredObject | null;
  before: StoredObject | null;
  actor: JsonObject | null;
  causation: { invocation_id: string | null; depth: number } | null;
}

export interface ScheduleEvent extends EventBase {
  type: "schedule";
  cron: string | null;
  every: number | null;
  timezone: string;
}

/**
 * A call of the function over HTTP: `POST /v1/functions/{name}/invoke` (`payload` is the body's
 * `payload`), or any method at `/v1/functions/{name}/http/{path…}` (a webhook: `method`, `path`,
 * `query`, `headers` and the raw `body` are set; `payload` is the body parsed as JSON, or null).
 */
export interface HttpEvent {
  id?: string;
  type: "http";
  payload: Json | undefined;
  auth: Auth | null;
  method?: string;
  /** The part after `/http/`, with a leading "/" ("/" when empty). */
  path?: string;
  /** Query parameters; a repeated name keeps its last value. */
  query?: Record<string, string>;
  /** The query exactly as sent, without the "?". */
  query_string?: string;
  /** Request headers, names in lower case. */
  headers?: Record<string, string>;
  /** The request body exactly as sent. */
  body?: Uint8Array<ArrayBuffer>;
}

export type TriggerEvent = DocumentEvent | ObjectEvent | ScheduleEvent | HttpEvent;

/** About the current invocation; the second argument of every handler. */
export interface Context {
  invocation_id: string | null;
  event_id: string | null;
  attempt: number;
  /** Epoch milliseconds by which the invocation is stopped. */
  deadline: number | null;
  function: string | null;
  version: number | null;
  trigger: string | null;
  /** Milliseconds left before the invocation is stopped. */
  remaining(): number | null;
}

// --- triggers ------------------------------------------------------------------------------------

export type Handler<E> = (event: E, ctx: Context) => unknown | Promise<unknown>;

export type Trigger =
  | { type: `document.${"created" | "updated" | "deleted" | "written"}`; collection: string; filter: string | null }
  | { type: `object.${"created" | "deleted"}`; bucket: string; prefix: string | null }
  | { type: "http" }
  | { type: "schedule"; cron: string | null; every: number | null; timezone: string };

/** What an `on…` function returns; export it to make it a handler. */
export interface Declared<E> {
  readonly trigger: Trigger;
  readonly handler: Handler<E>;
}

const DECLARED = Symbol.for("baas.declared");

/** Whether `value` (a module export) declares a handler. */
export function isDeclared(value: unknown): value is Declared<unknown> {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[DECLARED] === true;
}

function declare<E>(trigger: Trigger, handler: Handler<E>): Declared<E> {
  if (typeof handler !== "function") throw new TypeError("a trigger needs a handler function");
  return Object.freeze({ [DECLARED]: true, trigger, handler }) as Declared<E>;
}

function nonEmpty(value: unknown, what: string): string {
  if (typeof value !== "string" || value === "") throw new TypeError(`${what} must be a non-empty string`);
  return value;
}

function optionalString(value: unknown, what: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw new TypeError(`${what} must be a string`);
  return value;
}

/** Options of a document trigger: `filter` is an expression of the rules language on the document. */
export interface DocumentTriggerOptions {
  filter?: string;
}

function documentTrigger(kind: "created" | "updated" | "deleted" | "written") {
  return (
    collection: string,
    optionsOrHandler: DocumentTriggerOptions | Handler<DocumentEvent>,
    maybeHandler?: Handler<DocumentEvent>,
  ): Declared<DocumentEvent> => {
    const [options, handler] = typeof optionsOrHandler === "function"
      ? [{}, optionsOrHandler]
      : [optionsOrHandler ?? {}, maybeHandler as Handler<DocumentEvent>];
    return declare(
      {
        type: `document.${kind}`,
        collection: nonEmpty(collection, "collection"),
        filter: optionalString((options as DocumentTriggerOptions).filter, "filter"),
      },
      handler,
    );
  };
}

export const onDocumentCreated = documentTrigger("created");
export const onDocumentUpdated = documentTrigger("updated");
export const onDocumentDeleted = documentTrigger("deleted");
/** Created, updated and deleted. */
export const onDocumentWritten = documentTrigger("written");

/** Options of an object trigger: only paths starting with `prefix`. */
export interface ObjectTriggerOptions {
  prefix?: string;
}

function objectTrigger(kind: "created" | "deleted") {
  return (
    bucket: string,
    optionsOrHandler: ObjectTriggerOptions | Handler<ObjectEvent>,
    maybeHandler?: Handler<ObjectEvent>,
  ): Declared<ObjectEvent> => {
    const [options, handler] = typeof optionsOrHandler === "function"
      ? [{}, optionsOrHandler]
      : [optionsOrHandler ?? {}, maybeHandler as Handler<ObjectEvent>];
    return declare(
      {
        type: `object.${kind}`,
        bucket: nonEmpty(bucket, "bucket"),
        prefix: optionalString((options as ObjectTriggerOptions).prefix, "prefix"),
      },
      handler,
    );
  };
}

/** An upload or an overwrite. */
export const onObjectCreated = objectTrigger("created");
export const onObjectDeleted = objectTrigger("deleted");

/**
 * The handler of HTTP calls. It returns JSON (the invoke's `result`), or a `Response` (Fetch API)
 * to choose the status, headers and body of a call at `/v1/functions/{name}/http/{path…}`.
 */
export function onHttp(handler: Handler<HttpEvent>): Declared<HttpEvent> {
  return declare({ type: "http" }, handler);
}

/** A cron schedule (five fields, in `timezone`) or `{ every: seconds }`. */
export type Schedule = string | { cron: string; timezone?: string } | { every: number; timezone?: string };

export function onSchedule(schedule: Schedule, handler: Handler<ScheduleEvent>): Declared<ScheduleEvent> {
  const spec = typeof schedule === "string" ? { cron: schedule } : schedule;
  const timezone = nonEmpty((spec as { timezone?: string }).timezone ?? "UTC", "timezone");
  if ("every" in spec && spec.every !== undefined) {
    if (!Number.isInteger(spec.every) || spec.every < 1) {
      throw new TypeError("every must be a whole number of seconds, at least 1");
    }
    return declare({ type: "schedule", cron: null, every: spec.every, timezone }, handler);
  }
  const cron = (spec as { cron?: string }).cron;
  if (typeof cron !== "string" || cron.trim().split(/\s+/).length !== 5) {
    throw new TypeError(`cron must have five fields (minute hour day month weekday), not ${JSON.stringify(cron)}`);
  }
  return declare({ type: "schedule", cron, every: null, timezone }, handler);
}

// --- errors --------------------------------------------------------------------------------------

/**
 * A platform call failed (`code` is the API's error code), or a function chooses what its callers
 * read: `throw new BaasError("Nothing left", "out_of_stock")`. Any other error reaches callers who
 * are not the function's owner as `function_error`.
 */
export class BaasError extends Error {
  code: string;
  details: JsonObject;
  constructor(message: string, code = "error", details: JsonObject = {}) {
    super(message);
    this.name = "BaasError";
    this.code = code;
    this.details = details;
  }
}

export class PermissionDenied extends BaasError {
  constructor(message: string, details: JsonObject = {}) {
    super(message, "permission_denied", details);
    this.name = "PermissionDenied";
  }
}

export class NotFound extends BaasError {
  constructor(message: string, details: JsonObject = {}) {
    super(message, "not_found", details);
    this.name = "NotFound";
  }
}

export class Conflict extends BaasError {
  constructor(message: string, details: JsonObject = {}) {
    super(message, "conflict", details);
    this.name = "Conflict";
  }
}

export class PreconditionFailed extends BaasError {
  constructor(message: string, details: JsonObject = {}) {
    super(message, "precondition_failed", details);
    this.name = "PreconditionFailed";
  }
}

export class InvalidRequest extends BaasError {
  constructor(message: string, details: JsonObject = {}) {
    super(message, "invalid_request", details);
    this.name = "InvalidRequest";
  }
}

/** The error a failed platform call raises, by the API's error code. */
export function errorFrom(error: { code?: string; message?: string; details?: JsonObject }): BaasError {
  const code = error.code || "error";
  const message = error.message || code;
  const details = error.details ?? {};
  switch (code) {
    case "permission_denied":
      return new PermissionDenied(message, details);
    case "not_found":
      return new NotFound(message, details);
    case "conflict":
      return new Conflict(message, details);
    case "precondition_failed":
      return new PreconditionFailed(message, details);
    case "invalid_request":
    case "validation_error": {
      const failed = new InvalidRequest(message, details);
      failed.code = code;
      return failed;
    }
    default:
      return new BaasError(message, code, details);
  }
}

// --- the channel to the platform -----------------------------------------------------------------

/**
 * Performs the platform calls: `method` is one of the bridge's methods ("db.create", "db.get",
 * "db.list", "db.set", "db.update", "db.delete", "storage.read", "storage.write",
 * "storage.delete", "storage.sign"), `args` their arguments as Python's runtime sends them (bytes
 * base64-encoded). It resolves to the value or rejects with `errorFrom(error)`.
 */
export interface Transport {
  call(method: string, args: Record<string, Json | undefined>): Promise<Json>;
  /** A secret or environment value of this version; undefined when it has none of that name. */
  secret(name: string): string | undefined;
}

const outside: Transport = {
  call() {
    return Promise.reject(new Error("baas calls work only inside a deployed function or a baas/testing harness"));
  },
  secret() {
    return undefined;
  },
};

let transport: Transport = outside;

/** Installs the channel (the sandbox runtime, or testing.ts's fakes); returns the previous one. */
export function useTransport(next: Transport): Transport {
  const previous = transport;
  transport = next;
  return previous;
}

// --- documents -----------------------------------------------------------------------------------

export interface ListOptions {
  /** An expression of the rules language, as the REST API's `filter`. */
  filter?: string;
  /** "field" or "-field". */
  order?: string;
  limit?: number;
}

/** One collection. Needs `db:read:<name>` / `db:write:<name>` in the deployment's permissions. */
export class Collection {
  readonly name: string;
  constructor(name: string) {
    this.name = nonEmpty(name, "collection");
  }
  create(data: JsonObject, id?: string): Promise<Document> {
    return transport.call("db.create", { collection: this.name, data, id: id ?? null }) as Promise<Document>;
  }
  get(id: string): Promise<Document> {
    return transport.call("db.get", { collection: this.name, id }) as Promise<Document>;
  }
  list(options: ListOptions = {}): Promise<Document[]> {
    return transport.call("db.list", {
      collection: this.name,
      filter: options.filter ?? null,
      order: options.order ?? null,
      limit: options.limit ?? null,
    }) as Promise<Document[]>;
  }
  set(id: string, data: JsonObject): Promise<Document> {
    return transport.call("db.set", { collection: this.name, id, data }) as Promise<Document>;
  }
  /** Merges `data`, and applies atomic `ops` as the REST API's PATCH does. */
  update(id: string, data?: JsonObject | null, ops?: Json): Promise<Document> {
    return transport.call("db.update", { collection: this.name, id, data: data ?? null, ops: ops ?? null }) as Promise<
      Document
    >;
  }
  async delete(id: string): Promise<void> {
    await transport.call("db.delete", { collection: this.name, id });
  }
}

export const db = {
  collection(name: string): Collection {
    return new Collection(name);
  },
};

// --- storage -------------------------------------------------------------------------------------

function toBase64(data: Uint8Array): string {
  let binary = "";
  for (let start = 0; start < data.length; start += 0x8000) {
    binary += String.fromCharCode(...data.subarray(start, start + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Objects in buckets. Needs `storage:read:<bucket>` / `storage:write:<bucket>`. */
export const storage = {
  async read(bucket: string, path: string): Promise<Uint8Array> {
    return fromBase64((await transport.call("storage.read", { bucket, path })) as string);
  },
  write(bucket: string, path: string, data: Uint8Array | string, contentType?: string): Promise<StoredObject> {
    const raw = typeof data === "string" ? new TextEncoder().encode(data) : data;
    return transport.call("storage.write", {
      bucket,
      path,
      data: toBase64(raw),
      content_type: contentType ?? null,
    }) as Promise<StoredObject>;
  },
  async delete(bucket: string, path: string): Promise<void> {
    await transport.call("storage.delete", { bucket, path });
  },
  /** A signed download URL, valid `expiresIn` seconds. */
  sign(bucket: string, path: string, expiresIn = 3600): Promise<string> {
    return transport.call("storage.sign", { bucket, path, expires_in: Math.trunc(expiresIn) }) as Promise<string>;
  },
};

// --- secrets and logs ----------------------------------------------------------------------------

/** The version's secrets and environment values (`baas functions secrets set`). */
export const secrets = {
  get(name: string): string | undefined {
    return transport.secret(name);
  },
  require(name: string): string {
    const value = transport.secret(name);
    if (value === undefined) throw new BaasError(`the secret ${name} is not set`, "missing_secret");
    return value;
  },
};

function write(level: string, parts: unknown[]): void {
  const text = parts.map((part) => (typeof part === "string" ? part : Deno.inspect(part))).join(" ");
  console.error(`${level} ${text}`);
}

/** Lines in the invocation's logs (`baas functions logs`), as Python's `logger` writes them. */
export const logger = {
  debug: (...parts: unknown[]) => write("DEBUG", parts),
  info: (...parts: unknown[]) => write("INFO", parts),
  warn: (...parts: unknown[]) => write("WARNING", parts),
  error: (...parts: unknown[]) => write("ERROR", parts),
};

/** Base64 helpers the runtime and the harness share (bytes cross the channel as base64). */
export const _bytes = { toBase64, fromBase64 };
