import { HttpException, Logger } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { HeldAnswer } from '../../core/session-exchange.js';
import { checkOutputCall } from './output-call-check.js';

type OutputMethod = 'writeHead' | 'write' | 'end' | 'flushHeaders';
const OUTPUT_METHODS: readonly OutputMethod[] = ['writeHead', 'write', 'end', 'flushHeaders'];

/** Headers that describe a held answer's body or where it points: not those of an error sent in its place. */
const ANSWER_HEADERS = [
  'content-length',
  'content-type',
  'content-encoding',
  'content-range',
  'content-disposition',
  'transfer-encoding',
  'location',
  'etag',
  'last-modified',
];

/**
 * The answer of a handler that sends it itself (`@Res()`, `@Next()`: `res.redirect()`, `res.send()`,
 * `reply.redirect()`), held until the session is completed, as express-session does: its cookie
 * (a new or regenerated session's) must be on the answer, and its data stored before the client
 * can follow the answer (a redirect to `/me` right after a login).
 *
 * Hooks the raw Node response of this one request (not a user class) until then: its first output
 * (`writeHead`, `write`, `end`) tells that the handler answered, which completes the session; the
 * calls are kept and replayed, in order, once the session is saved. Meanwhile the response reads as
 * sent (`headersSent`), so nothing else (an exception filter) answers a second time. If the session
 * cannot be saved, the client gets that error (409, 413, 503…) instead of the handler's answer: never
 * a success for changes that were not saved. A handler that settles before answering (it answers
 * from a callback) has its session saved then; its answer goes out as it comes, with the cookies.
 * Only routes whose handler takes `@Res()` or `@Next()` (the guard binding's and the mount's) are held;
 * on Express, once one answer of an application was held, its other responses pass through the hooks
 * too (one property read per output call).
 */
/**
 * The held answer a hooked response reports its output to: a property of the raw Node response (an
 * object of this request that nobody freezes), not a WeakMap entry: WeakMap entries are ephemerons,
 * which every scavenge processes (measured with --trace-gc: two entries per request, about 8 µs of
 * collector pause per request; two properties, about 3 µs).
 */
const HELD = Symbol('nestjs-session-state:held-answer');
type HoldableResponse = ServerResponse & { [HELD]?: HttpHeldAnswer };
/** A hooked prototype, and the methods its hooks cover (those of the prototype it was made from). */
interface Hooked {
  readonly proto: object;
  readonly originals: Readonly<Partial<Record<OutputMethod, Function>>>;
}
const logger = new Logger('SessionState');
/** By the prototype hooked, and by the hooked prototype itself. */
const hookedPrototypes = new WeakMap<object, Hooked>();
/**
 * Each hook this module put on a prototype, and the method under it. An Express app mounted in
 * another (`outer.use('/inner', innerApp)`) has an `app.response` that inherits the outer one's: a
 * hook made on it must cover the real method, not the outer app's hook (whose held answer is not
 * this response's: the two would call each other without end).
 */
const hookOriginals = new WeakMap<Function, Function>();
const underHooks = (method: Function): Function => hookOriginals.get(method) ?? method;

/**
 * Where the hooks of a response with prototype `proto` are, made once per prototype. A hook
 * reports to the response's held answer, and calls the method it covers when there is none.
 * - An Express application's own response prototype (`app.response`: Express's documented
 *   app-specific extension point, "alterations can be made app-specific by only altering the
 *   app-specific prototypes") gets the hooks itself: every response of that application passes
 *   through them, and a response is hooked by its `HELD` property alone.
 * - Any other prototype (Fastify's raw response: Node's `ServerResponse.prototype`, shared by the
 *   whole process and never altered) gets a hooked prototype made from it, given to each response
 *   held (one prototype change per response).
 * Measured (instructions per request, callgrind): a prototype change per response costs V8 about
 * 100k instructions of background work (a hidden class per response); four own methods on each
 * response cost more still (about 14 µs, an earlier stop); the hooked `app.response` costs neither.
 */
function hookedPrototypeOf(proto: object): Hooked {
  let hooked = hookedPrototypes.get(proto);
  if (hooked) return hooked;
  const own = isExpressAppResponse(proto);
  const target = own ? proto : (Object.create(proto) as object);
  const originals: Partial<Record<OutputMethod, Function>> = {};
  for (const method of OUTPUT_METHODS) {
    const found = (proto as Record<string, unknown>)[method];
    if (typeof found !== 'function') continue;
    const original = underHooks(found);
    originals[method] = original;
    const hook = function (this: HoldableResponse, ...args: unknown[]) {
      const held = this[HELD];
      return held ? held.output(method, this, args) : original.apply(this, args);
    };
    hookOriginals.set(hook, original);
    Object.defineProperty(target, method, { configurable: true, writable: true, value: hook });
  }
  hooked = { proto: target, originals };
  hookedPrototypes.set(proto, hooked);
  if (!own) hookedPrototypes.set(target, hooked);
  return hooked;
}

/** Express's `app.response`: made per application by Express (`Object.create(response, { app })`). */
function isExpressAppResponse(proto: object): boolean {
  return Object.hasOwn(proto, 'app') && typeof (proto as { app?: unknown }).app === 'function' && 'json' in proto;
}

export class HttpHeldAnswer implements HeldAnswer {
  private readonly calls: { method: OutputMethod; args: unknown[] }[] = [];
  /** The methods under the hooks (shared by the responses of one prototype; own ones for own hooks). */
  private originals: Partial<Record<OutputMethod, Function>>;
  /** The session cookies set on this answer: checked on its headers when they go out. */
  private readonly cookies: string[] = [];
  /** Other headers the session put on this answer (the opt-in id header), checked the same way; made on first use. */
  private headers: Map<string, string> | undefined;
  private sending: (() => void) | undefined;
  private released = false;
  private hooked = true;
  private ended = false;
  /** The session is saved and nothing was held: the answer, when it comes, goes straight out. */
  private saved = false;
  /** Nest's streamed answer was replaced by the save's error: the rest of it is dropped (see `output`). */
  private cutShort = false;

  /** The headers the response had when it was hooked: an error sent in place of the answer keeps only these. */
  private readonly headersBefore: readonly string[];

  constructor(
    private readonly raw: ServerResponse,
    /**
     * The answer is Nest's own, sent after the handler settled (a guard-bound route's), not a `@Res()`
     * handler's. Then the response need not read as sent (`headersSent`) while it is held: that getter,
     * which keeps an exception filter from answering a second time after a `@Res()` handler answered,
     * costs about 18 µs per response (measured). And its first output completes the session: nothing
     * can change the session any more, and a streamed answer (a `StreamableFile`) must not wait for its
     * end to begin, nor pile up in memory meanwhile (what follows flows with the response's own backpressure).
     */
    private readonly sentByNest = false,
  ) {
    this.headersBefore = raw.getHeaderNames();
    // Another hook put its own output method on the response (compression's `end`, on-headers'
    // `writeHead`), or another held answer holds it: own hooks, which pass on to what they cover.
    if ((raw as HoldableResponse)[HELD] !== undefined || hasOwnOutputMethod(raw)) {
      this.originals = {};
      this.hookOwn();
      return;
    }
    const proto = Object.getPrototypeOf(raw) as object;
    const hooked = hookedPrototypeOf(proto);
    this.originals = hooked.originals;
    if (hooked.proto !== proto) Object.setPrototypeOf(raw, hooked.proto);
    (raw as HoldableResponse)[HELD] = this;
  }

  /** Hooks put on the response itself, each passing on to the method it covers once the answer is let go. */
  private hookOwn(): void {
    const raw = this.raw;
    // oxlint-disable-next-line typescript/no-this-alias -- the hooks get the response as `this`
    const held = this;
    for (const method of OUTPUT_METHODS) {
      const original = raw[method] as Function | undefined;
      if (typeof original !== 'function') continue;
      this.originals[method] = original;
      const hook = function (this: ServerResponse, ...args: unknown[]) {
        return held.output(method, this, args);
      };
      try {
        (raw as unknown as Record<string, unknown>)[method] = hook;
      } catch {
        // An own accessor or read-only property of another hook: redefined.
        Object.defineProperty(raw, method, { configurable: true, writable: true, value: hook });
      }
    }
  }

  /** An output call of the response: held while hooked, else passed on (should another hook have wrapped this one meanwhile). */
  output(method: OutputMethod, response: ServerResponse, args: unknown[]): unknown {
    // The rest of a streamed answer whose session could not be saved: its error went out instead,
    // and Node would turn a write after that end into an 'error' no one listens to (a crash). A
    // guard: in tests the pipe stops at the error answer's 'finish' before the stream's next chunk,
    // but a socket slow to flush that answer would leave a window.
    if (this.cutShort) return method === 'write' ? true : method === 'flushHeaders' ? undefined : response;
    return this.hooked ? this.hold(method, args) : this.originals[method]!.apply(response, args);
  }

  /** Whether a Set-Cookie can still join the answer (it is held, or nothing was sent yet). */
  canSetCookie(): boolean {
    return this.hooked || !this.raw.headersSent;
  }

  /**
   * A session cookie set on this answer (through the framework's header API). The framework may
   * already have copied its headers onto the response (Fastify, for a stream): it is checked on
   * the headers when they go out, and added if missing.
   */
  noteCookie(value: string, name: string): void {
    // A later session cookie replaces an earlier one (see `HttpExchange.appendSetCookie`).
    const earlier = this.cookies.findIndex((cookie) => cookie.startsWith(name));
    if (earlier >= 0) this.cookies.splice(earlier, 1);
    this.cookies.push(value);
  }

  /** A header the session set on this answer (the id header): as `noteCookie`, but one value per name. */
  noteHeader(name: string, value: string): void {
    (this.headers ??= new Map()).set(name.toLowerCase(), value);
  }

  onSending(listener: () => void): void {
    this.sending = listener;
  }

  release(completion: Promise<void>, toClientError: (error: unknown) => unknown, handlerError?: { error: unknown }): void {
    if (this.released) return;
    this.released = true;
    // The handler threw after it began an answer it never ended: that partial answer must not go
    // out as if it had succeeded (its changes were discarded); the client gets the error instead.
    const failedMidAnswer = handlerError !== undefined && this.calls.length > 0 && !this.ended;
    // Nothing held (the handler settled before answering): an error reaches the exception filters as usual.
    completion.then(
      () => (failedMidAnswer ? this.answerError(() => handlerError.error) : this.send()),
      (error: unknown) => (this.calls.length > 0 ? this.answerError(() => toClientError(error)) : this.unhook()),
    );
  }

  abandon(): void {
    this.released = true;
    // Nobody waits for this handler any more (an outer timeout gave up, the client left) and its
    // answer is unfinished: what it held must not go out as a clean answer (a 200 cut short, its
    // changes discarded). Whoever gave up answers instead (the timeout's 408); the response is given
    // back as it was before the handler wrote.
    if (this.calls.length > 0 && !this.ended) return this.discardHeld();
    this.send();
  }

  /** The status of the answer held (its `writeHead`'s, else the response's). */
  status(): number {
    const head = this.calls.find((call) => call.method === 'writeHead');
    return typeof head?.args[0] === 'number' ? head.args[0] : this.raw.statusCode;
  }

  letGo(): void {
    if (this.calls.length > 0 || this.released) return;
    this.released = true;
    this.unhook();
  }

  private hold(method: OutputMethod, args: unknown[]): unknown {
    if (this.saved) {
      // The handler answers after its session was saved (it settled first): straight out, with the cookies.
      this.unhook();
      return this.originals[method]!.apply(this.raw, this.withSessionHeaders(method, args));
    }
    if (this.ended) return method === 'write' ? false : this.raw; // after end(), as a real response would drop it
    // A `@Res()` handler's invalid call throws in the handler, as unheld. Not Nest's own answer's calls
    // (every guard-bound response): Node checks those when they are replayed, and a failure there is answered.
    if (!this.sentByNest) checkOutputCall(method, args);
    if (this.calls.length === 0 && !this.sentByNest) this.coverHeadersSent();
    if (method === 'write' && typeof args[args.length - 1] === 'function') {
      // A handler may wait for a write's callback before it goes on (to end()): held, the write runs only
      // after end(), so the callback runs now that the chunk is taken, as a stream's runs once its buffer took it.
      process.nextTick(args[args.length - 1] as () => void);
      args = args.slice(0, -1);
    }
    this.calls.push({ method, args });
    // A `@Res()` handler's answer is complete at end(): the session is completed then (or when the
    // handler settles, if first), never at the first chunk: the handler still runs and still holds the
    // lock while it writes, and what it changes meanwhile is saved (as express-session saves at end()).
    // Nest's own answer comes after the handler settled: its first output completes the session.
    if (method === 'end') this.ended = true;
    if (method === 'end' || this.sentByNest) {
      const sending = this.sending;
      this.sending = undefined;
      sending?.();
    }
    return method === 'write' ? true : method === 'flushHeaders' ? undefined : this.raw;
  }

  /** While an answer is held, the response reads as sent; once let go, as it is. */
  private coverHeadersSent(): void {
    const real = accessorOf(this.raw, 'headersSent');
    // oxlint-disable-next-line typescript/no-this-alias -- the getter gets the response as `this`
    const held = this;
    Object.defineProperty(this.raw, 'headersSent', {
      configurable: true,
      get(this: ServerResponse) {
        return held.hooked || real?.call(this) === true;
      },
    });
  }

  /**
   * Lets go of the response: the hooks stay on it and pass through. Nothing is deleted from it: a
   * deleted property turns the response into a slow dictionary object for the rest of the request
   * (about 5 % of a request's CPU in the guard binding's profile).
   */
  private unhook(): void {
    this.hooked = false;
  }

  /** Replays the held calls on the response itself, the first with the session's cookies. */
  private send(): void {
    if (this.calls.length === 0 && this.hooked && !this.ended) {
      this.saved = true; // the answer is still to come: it goes out as it comes
      return;
    }
    this.unhook();
    const calls = this.calls.splice(0);
    try {
      calls.forEach(({ method, args }, index) => this.originals[method]!.apply(this.raw, index === 0 ? this.withSessionHeaders(method, args) : args));
    } catch (error) {
      // A call Node refuses that `checkOutputCall` let through (it runs inside a promise callback here):
      // never an unhandled rejection nor a client left waiting. The session is saved by now.
      this.failedReplay(error);
    }
  }

  /** A replayed call threw: the client gets a 500 if nothing went out yet, else the connection is cut (a partial answer). */
  private failedReplay(error: unknown): void {
    logger.error(
      `An output call of an answer held for its session failed when it was sent: ${error instanceof Error ? error.message : String(error)}`,
    );
    if (!this.raw.headersSent && !this.raw.destroyed) return this.answerError(() => error);
    this.raw.destroy();
  }

  /** `withCookies`, after the session's other headers: on the response, and in `writeHead`'s own headers (which win) if named there. */
  private withSessionHeaders(method: OutputMethod, args: unknown[]): unknown[] {
    const headers = this.headers;
    if (!headers || headers.size === 0) return this.withCookies(method, args);
    const at = typeof args[1] === 'string' ? 2 : 1;
    const given = method === 'writeHead' ? args[at] : undefined;
    const copy = [...args];
    for (const [name, value] of headers) this.raw.setHeader(name, value);
    if (Array.isArray(given)) {
      const nested = Array.isArray(given[0]);
      copy[at] = nested
        ? (given as unknown[][]).map(([key, v]) => [key, headers.get(String(key).toLowerCase()) ?? v])
        : given.map((v: unknown, i) => (i % 2 === 1 ? (headers.get(String(given[i - 1]).toLowerCase()) ?? v) : v));
    } else if (given && typeof given === 'object') {
      copy[at] = Object.fromEntries(Object.entries(given).map(([key, v]) => [key, headers.get(key.toLowerCase()) ?? v]));
    }
    return this.withCookies(method, copy);
  }

  /**
   * The first output call's arguments, with the session cookies its headers lack: those of a
   * `writeHead(status, [message], headers)` (Fastify passes its headers there), else the response's.
   */
  private withCookies(method: OutputMethod, args: unknown[]): unknown[] {
    if (this.cookies.length === 0) return args;
    const onResponse = setCookiesOf(this.raw.getHeader('set-cookie'));
    const at = typeof args[1] === 'string' ? 2 : 1;
    const headers = method === 'writeHead' ? args[at] : undefined;
    const copy = [...args];
    if (Array.isArray(headers)) {
      const nested = Array.isArray(headers[0]);
      const pairs: unknown[][] = nested
        ? (headers as unknown[][])
        : Array.from({ length: headers.length / 2 }, (_, i) => [headers[2 * i], headers[2 * i + 1]]);
      const isSetCookie = (name: unknown) => String(name).toLowerCase() === 'set-cookie';
      const given = pairs.filter(([name]) => isSetCookie(name)).flatMap(([, value]) => setCookiesOf(value));
      const missing = this.cookies.filter((cookie) => !given.includes(cookie) && (given.length > 0 || !onResponse.includes(cookie)));
      // A session cookie replaced after the framework copied its headers (a later save()'s) goes.
      const kept = pairs.filter(([name, value]) => !isSetCookie(name) || !setCookiesOf(value).some((c) => this.isReplaced(c)));
      copy[at] = nested ? [...kept, ...missing.map((c) => ['set-cookie', c])] : [...kept.flat(), ...missing.flatMap((c) => ['set-cookie', c])];
    } else if (headers && typeof headers === 'object') {
      const record = headers as Record<string, unknown>;
      const name = Object.keys(record).find((key) => key.toLowerCase() === 'set-cookie');
      // Headers given to writeHead() replace the response's of the same name.
      if (name !== undefined) {
        const given = setCookiesOf(record[name]).filter((cookie) => !this.isReplaced(cookie));
        const missing = this.cookies.filter((cookie) => !given.includes(cookie));
        copy[at] = { ...record, [name]: [...given, ...missing] };
      } else {
        this.addToResponse(onResponse);
      }
    } else {
      this.addToResponse(onResponse);
    }
    return copy;
  }

  private addToResponse(onResponse: string[]): void {
    const kept = onResponse.filter((cookie) => !this.isReplaced(cookie));
    const missing = this.cookies.filter((cookie) => !kept.includes(cookie));
    if (missing.length > 0 || kept.length !== onResponse.length) this.raw.setHeader('set-cookie', [...kept, ...missing]);
  }

  /** A session cookie of this answer that a later one of the same name replaced. */
  private isReplaced(cookie: string): boolean {
    if (this.cookies.includes(cookie)) return false;
    const name = cookie.slice(0, cookie.indexOf('=') + 1);
    return name.length > 1 && this.cookies.some((noted) => noted.startsWith(name));
  }

  /** Drops the held output and what the handler put on the response's headers; the response is free again. */
  private discardHeld(): void {
    this.unhook();
    this.calls.length = 0;
    if (this.raw.headersSent) return;
    // Nothing the handler put on its answer (an auth cookie, a user header) goes out with another answer.
    for (const name of this.raw.getHeaderNames()) if (!this.headersBefore.includes(name)) this.raw.removeHeader(name);
    for (const name of ANSWER_HEADERS) this.raw.removeHeader(name);
  }

  /** The session could not be saved: the client gets that error instead of the handler's answer. */
  private answerError(makeError: () => unknown): void {
    this.discardHeld();
    // Made after the held headers are dropped: a header the error's answer sets (`Retry-After`) stays.
    const error = makeError();
    const raw = this.raw;
    if (raw.headersSent || raw.destroyed) return;
    const status = error instanceof HttpException ? error.getStatus() : 500;
    const response = error instanceof HttpException ? error.getResponse() : 'Internal server error';
    const body = JSON.stringify(typeof response === 'string' ? { statusCode: status, message: response } : response);
    raw.statusCode = status;
    raw.setHeader('content-type', 'application/json; charset=utf-8');
    raw.setHeader('content-length', Buffer.byteLength(body));
    raw.end(body);
    // Nest's own answer, still streaming (a StreamableFile whose first output completed the session): what it writes next is dropped.
    if (this.sentByNest && !this.ended) this.cutShort = true;
  }
}

/** The getter of an accessor property as `target` inherits it (`headersSent` on `OutgoingMessage.prototype`). */
function accessorOf(target: object, name: string): ((this: unknown) => unknown) | undefined {
  for (let at: object | null = target; at; at = Object.getPrototypeOf(at)) {
    const descriptor = Object.getOwnPropertyDescriptor(at, name);
    // Called with the response as `this` (see coverHeadersSent).
    // oxlint-disable-next-line typescript/unbound-method
    if (descriptor) return descriptor.get;
  }
  return undefined;
}

function hasOwnOutputMethod(raw: object): boolean {
  for (const method of OUTPUT_METHODS) if (Object.hasOwn(raw, method)) return true;
  return false;
}

function setCookiesOf(value: unknown): string[] {
  return value === undefined || value === null ? [] : ([] as unknown[]).concat(value).map(String);
}
