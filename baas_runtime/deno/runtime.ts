/**
 * The process that runs inside a Deno sandbox: loads the function once, then serves invocations.
 * The same protocol as Python's runtime (baas_runtime/_sandbox.py, _protocol.py, _bridge.py):
 * frames of a 4-byte big-endian length and JSON, from the worker on stdin, to it on stdout; the
 * function's own output goes to stderr, cut per invocation by the worker's end marker.
 *
 * Started by the launcher (baas_runtime/_deno_launch.py) with `deno run`, no environment access,
 * no subprocesses, no FFI, read access to the function's folder and to this folder only, network
 * only for `network: "egress"` (through the worker's filtering proxy). It reads an `init` frame
 * (entry, code folder, environment and secrets, end marker), imports the entry module, reports each
 * export that an `on…` function made as a handler named after the export, and then loops:
 * `invoke` → `call`/`reply` frames for db and storage → `result`.
 *
 * Nothing of one invocation may run on into the next caller's: with Deno's leak tracing on (the
 * bookkeeping `deno test` uses for its sanitizers) the runtime sees every timer, interval, pending
 * operation and worker still alive when a handler has settled, and asks to be recycled; the worker
 * checks the process tree and the channel from outside as well (functions/sandbox/process.py).
 */

import { _bytes, errorFrom, isDeclared, type Json, type Transport, useTransport } from "./mod.ts";

// --- what user code must not reach or replace -----------------------------------------------------
// Captured before any user code exists: the function may redefine globals, not these bindings.
const internal = (Deno as unknown as Record<symbol, Record<string, unknown>>)[
  (Deno as unknown as { internal: symbol }).internal
];
const core = internal.core as {
  print(message: string, toStderr: boolean): void;
  setLeakTracingEnabled(on: boolean): void;
  getAllLeakTraces(): Map<unknown, unknown>;
};
const ConsoleClass = internal.Console as new (print: (message: string, level: number) => void) => Console;
const stdin = Deno.stdin;
const stdout = Deno.stdout;
const stderr = Deno.stderr;
const jsonParse = JSON.parse;
const ResponseClass = globalThis.Response;
const setImmediateOf = (globalThis as unknown as { setImmediate: (callback: () => void) => unknown }).setImmediate;
const jsonStringify = JSON.stringify;
const refTimer = Deno.refTimer;
const unrefTimer = Deno.unrefTimer;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MAX_FRAME_BYTES = 16 * 1024 * 1024;

class ProtocolError extends Error {}

// The protocol channel is the process's stdout: console.log and Deno.stdout are pointed at stderr
// (the logs), Deno.stdin at nothing, and Deno.exit refuses (Python's runtime catches SystemExit).
function lockDown(): void {
  const toStderr = new ConsoleClass((message: string) => core.print(message, true));
  Object.defineProperty(globalThis, "console", { value: toStderr, writable: true, configurable: true });
  const fixed = (value: unknown) => ({ value, writable: false, configurable: false, enumerable: true });
  Object.defineProperty(Deno, "stdout", fixed(stderr));
  Object.defineProperty(Deno, "stdin", fixed(null));
  Object.defineProperty(
    Deno,
    "exit",
    fixed(() => {
      throw new Error("Deno.exit is not available in a function: return or throw instead");
    }),
  );
  try {
    delete (Deno as unknown as Record<symbol, unknown>)[(Deno as unknown as { internal: symbol }).internal];
  } catch {
    // not configurable in this Deno: the worker's checks from outside still hold
  }
}

// --- framing ----------------------------------------------------------------------------------------
// One read buffer for the process's life: a fresh 64 KiB array per frame left garbage outside V8's
// heap that the allocator kept (RSS grew ~20 MiB over 3,000 warm invocations).
const readChunk = new Uint8Array(65536);
let buffered = new Uint8Array(0); // read from stdin, not consumed yet (the start of the next frame)

async function readExactly(size: number): Promise<Uint8Array> {
  if (buffered.length >= size) {
    const data = buffered.slice(0, size);
    buffered = buffered.subarray(size);
    return data;
  }
  const data = new Uint8Array(size);
  data.set(buffered);
  let filled = buffered.length;
  buffered = new Uint8Array(0);
  while (filled < size) {
    const got = await stdin.read(readChunk);
    if (got === null) throw new ProtocolError("the channel was closed");
    const used = Math.min(got, size - filled);
    data.set(readChunk.subarray(0, used), filled);
    filled += used;
    if (used < got) buffered = readChunk.slice(used, got); // a copy: readChunk is read into again
  }
  return data;
}

async function readFrame(): Promise<Record<string, Json>> {
  const header = await readExactly(4);
  const size = new DataView(header.buffer).getUint32(0, false);
  if (size > MAX_FRAME_BYTES) throw new ProtocolError(`frame of ${size} bytes is above the limit`);
  const message = jsonParse(decoder.decode(await readExactly(size)));
  if (typeof message !== "object" || message === null || Array.isArray(message)) {
    throw new ProtocolError("frame is not a JSON object");
  }
  return message;
}

function writeAll(file: { writeSync(data: Uint8Array): number }, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.length) offset += file.writeSync(data.subarray(offset));
}

function writeFrame(message: Record<string, unknown>): void {
  const body = encoder.encode(jsonStringify(message));
  if (body.length > MAX_FRAME_BYTES) {
    throw new ProtocolError(`message of ${body.length} bytes is above the ${MAX_FRAME_BYTES}-byte limit`);
  }
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length, false);
  frame.set(body, 4);
  writeAll(stdout, frame);
}

// --- the channel to the platform ------------------------------------------------------------------
let invoking = false;
let nonce: Json = null; // the worker's token for the running invocation, echoed in every frame of it
let callCounter = 0;
let callQueue: Promise<unknown> = Promise.resolve();

async function callWorker(method: string, args: Record<string, Json | undefined>): Promise<Json> {
  if (!invoking) throw new Error("baas calls work only while an invocation runs");
  callCounter += 1;
  const id = callCounter;
  writeFrame({ op: "call", id, method, args, nonce });
  const reply = await readFrame();
  if (reply.op !== "reply" || reply.id !== id) throw new ProtocolError("unexpected answer from the worker");
  if (reply.ok) return reply.value ?? null;
  throw errorFrom((reply.error ?? {}) as { code?: string; message?: string });
}

function sandboxTransport(env: Record<string, string>): Transport {
  return {
    // One call in flight at a time (the worker answers in order), as Python's bridge does.
    call(method, args) {
      const run = callQueue.then(() => callWorker(method, args));
      callQueue = run.catch(() => undefined);
      return run;
    },
    secret(name) {
      return Object.prototype.hasOwnProperty.call(env, name) ? env[name] : undefined;
    },
  };
}

// --- errors as Python's runtime reports them --------------------------------------------------------
let runtimeFolder = "";

function describe(error: unknown): Record<string, string> {
  const isError = error instanceof Error;
  const type = isError ? (error.name || error.constructor?.name || "Error") : "Error";
  const message = isError ? String(error.message) : `a non-Error value was thrown: ${safeString(error)}`;
  const stack = isError && typeof error.stack === "string" ? error.stack : `${type}: ${message}`;
  // The author's frames only: this runtime, the baas module and Deno's own (ext:) are left out.
  const traceback = stack
    .split("\n")
    .filter((line) => !(line.trimStart().startsWith("at ") && (line.includes(runtimeFolder) || line.includes("ext:"))))
    .join("\n");
  const described: Record<string, string> = {
    type: String(type).slice(0, 200),
    message: message.slice(0, 2000),
    traceback: traceback.slice(-16000),
  };
  const code = isError ? (error as { code?: unknown }).code : undefined;
  if (typeof code === "string" && code) described.code = code.slice(0, 100);
  return described;
}

function safeString(value: unknown): string {
  try {
    return typeof value === "string" ? value : Deno.inspect(value);
  } catch {
    return "(unprintable)";
  }
}

// --- work left running --------------------------------------------------------------------------------
let strayErrors = 0;

function leftovers(): string | null {
  const pending = core.getAllLeakTraces().size;
  if (pending > 0) {
    return `the invocation left ${pending} timer(s), pending operation(s) or worker(s) running`;
  }
  if (strayErrors > 0) return "an error escaped the invocation (an unhandled rejection or exception)";
  return null;
}

function catchStrays(): void {
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    strayErrors += 1;
    console.error("Uncaught (in promise)", describe(event.reason).traceback);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    strayErrors += 1;
    console.error("Uncaught", describe(event.error).traceback);
  });
}

// A handler whose promise never settles must meet the worker's timeout, not Deno's "the event loop
// has nothing left to do" exit: a timer of our own keeps the loop alive while user code runs. One
// timer for the process's life, made before leak tracing starts and only ref'd and unref'd after:
// Deno's leak tracing keeps ~5 KiB of every timer it saw made, and a fresh timer per invocation
// grew a warm process by ~10 MiB over 1,500 invocations.
let keeper = 0;

function makeKeeper(): void {
  keeper = setInterval(() => {}, 1 << 30);
  unrefTimer(keeper);
}

async function alive<T>(work: () => Promise<T>): Promise<T> {
  refTimer(keeper);
  try {
    return await work();
  } finally {
    unrefTimer(keeper);
  }
}

// --- the main loop --------------------------------------------------------------------------------------
type Handler = (event: unknown, ctx: unknown) => unknown;

function endOutput(marker: Uint8Array): void {
  writeAll(stderr, marker);
}

function context(ctx: Record<string, Json>): Record<string, unknown> {
  const deadline = typeof ctx.deadline === "number" ? Math.round(ctx.deadline * 1000) : null;
  return {
    invocation_id: ctx.invocation_id ?? null,
    event_id: ctx.event_id ?? null,
    attempt: ctx.attempt ?? 0,
    deadline,
    function: ctx.function ?? null,
    version: ctx.version ?? null,
    trigger: ctx.trigger ?? null,
    remaining: () => (deadline === null ? null : Math.max(0, deadline - Date.now())),
  };
}

// The HTTP wire of baas_runtime/_http.py: the request body arrives base64-encoded and reaches the
// handler as bytes; a Fetch `Response` goes back as `{"$http": {status, headers, body_base64}}`,
// which the worker judges exactly as it judges Python's `HttpResponse`.
function eventForHandler(event: Record<string, Json>): Record<string, unknown> {
  if (!("body_base64" in event)) return event;
  const { body_base64: encoded, ...rest } = event;
  return { ...rest, body: _bytes.fromBase64(typeof encoded === "string" ? encoded : "") };
}

async function httpWire(answer: Response): Promise<Record<string, unknown>> {
  const body = new Uint8Array(await answer.arrayBuffer());
  return {
    $http: { status: answer.status, headers: [...answer.headers], body_base64: _bytes.toBase64(body) },
  };
}

async function invoke(handlers: Map<string, Handler>, message: Record<string, Json>): Promise<Record<string, unknown>> {
  const handler = handlers.get(String(message.handler ?? ""));
  if (handler === undefined) {
    return {
      op: "result",
      ok: false,
      error: { type: "LookupError", message: `no handler named ${jsonStringify(message.handler)}`, traceback: "" },
    };
  }
  invoking = true;
  try {
    const event = eventForHandler((message.event ?? {}) as Record<string, Json>);
    const value = await alive(async () => {
      const answer = await handler(event, context((message.ctx ?? {}) as Record<string, Json>));
      return answer instanceof ResponseClass ? await httpWire(answer) : answer;
    });
    const text = jsonStringify(value === undefined ? null : value); // fails here, in the user's invocation
    return { op: "result", ok: true, value: text === undefined ? null : jsonParse(text) };
  } catch (error) {
    return { op: "result", ok: false, error: describe(error) };
  } finally {
    invoking = false;
  }
}

async function main(): Promise<void> {
  const init = await readFrame();
  const marker = encoder.encode("\x00\x1e" + String(init.marker) + "\n");
  const codeDir = String(init.code_dir);
  runtimeFolder = String(init.runtime_dir ?? new URL(".", import.meta.url).pathname);
  const env = Object.fromEntries(
    Object.entries((init.env ?? {}) as Record<string, Json>).map(([key, value]) => [key, String(value)]),
  );
  lockDown();
  catchStrays();
  useTransport(sandboxTransport(env));
  makeKeeper(); // before the tracing: never one of its leftovers
  core.setLeakTracingEnabled(true);

  const handlers = new Map<string, Handler>();
  const triggers: Record<string, unknown>[] = [];
  try {
    const url = new URL(String(init.entry), `file://${codeDir}/`);
    const module = await alive(() => import(url.href));
    for (const [name, value] of Object.entries(module as Record<string, unknown>)) {
      if (!isDeclared(value)) continue;
      handlers.set(name, value.handler as Handler);
      triggers.push({ ...value.trigger, handler: name });
    }
  } catch (error) {
    endOutput(marker);
    writeFrame({ op: "load_error", error: describe(error) });
    return;
  }
  endOutput(marker);
  writeFrame({ op: "ready", triggers });

  while (true) {
    let message: Record<string, Json>;
    try {
      message = await readFrame();
    } catch (error) {
      if (error instanceof ProtocolError) return; // the worker closed the channel: retired
      throw error;
    }
    if (message.op !== "invoke") return;
    nonce = message.nonce ?? null;
    // Traced while the invocation runs, up to its check: Deno's tracing keeps something of every
    // timer and operation it saw for the process's life, our own read of the next frame included.
    core.setLeakTracingEnabled(true);
    const reply = await invoke(handlers, message);
    reply.nonce = nonce;
    // One turn of the event loop, so that a rejection nobody handled is reported before the check
    // (an immediate: a 0 ms timer costs ~3 ms, the clock's next tick).
    await new Promise<void>((resolve) => setImmediateOf(resolve));
    const left = leftovers();
    if (left !== null) reply.recycle = left;
    core.setLeakTracingEnabled(false);
    endOutput(marker);
    try {
      writeFrame(reply);
    } catch (error) {
      writeFrame({ op: "result", ok: false, error: describe(error), nonce });
    }
  }
}

await main();
