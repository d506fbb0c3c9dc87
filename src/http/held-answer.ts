import { HttpException } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { HeldAnswer } from '../exchange/complete-on-settle.js';

type OutputMethod = 'writeHead' | 'write' | 'end' | 'flushHeaders';
const OUTPUT_METHODS: readonly OutputMethod[] = ['writeHead', 'write', 'end', 'flushHeaders'];

/** Headers that describe a held answer's body or where it points: not those of an error sent in its place. */
const ANSWER_HEADERS = ['content-length', 'content-type', 'content-encoding', 'content-range', 'content-disposition', 'transfer-encoding', 'location', 'etag', 'last-modified'];

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
 * a success for changes that were not saved. Only routes whose handler takes `@Res()` or `@Next()`
 * are held; no other pays for it.
 */
export class HttpHeldAnswer implements HeldAnswer {
  private readonly calls: { method: OutputMethod; args: unknown[] }[] = [];
  private readonly originals = new Map<OutputMethod, Function>();
  /** Session cookies to send with a held `writeHead` (Fastify passes its headers to it). */
  private readonly cookies: string[] = [];
  private sending: (() => void) | undefined;
  private released = false;
  private hooked = true;
  private ended = false;

  constructor(private readonly raw: ServerResponse) {
    for (const method of OUTPUT_METHODS) {
      const original = raw[method] as Function | undefined;
      if (typeof original !== 'function') continue;
      this.originals.set(method, original);
      Object.defineProperty(raw, method, {
        configurable: true,
        writable: true,
        value: (...args: unknown[]) => this.hold(method, args),
      });
    }
  }

  /** Whether a Set-Cookie can still join the answer (it is held, or nothing was sent yet). */
  canSetCookie(): boolean {
    return this.hooked || !this.raw.headersSent;
  }

  /** Whether a session cookie must join the held `writeHead` (its headers were passed to it). */
  holdsHeaders(): boolean {
    return this.hooked && this.calls.some((call) => call.method === 'writeHead');
  }

  addCookie(value: string): void {
    this.cookies.push(value);
  }

  onSending(listener: () => void): void {
    this.sending = listener;
  }

  release(completion: Promise<void>, toClientError: (error: unknown) => unknown): void {
    if (this.released) return;
    this.released = true;
    // Nothing held (the handler settled before answering): an error reaches the exception filters as usual.
    completion.then(
      () => this.send(),
      (error: unknown) => (this.calls.length > 0 ? this.answerError(toClientError(error)) : this.unhook()),
    );
  }

  abandon(): void {
    this.released = true;
    this.send();
  }

  private hold(method: OutputMethod, args: unknown[]): unknown {
    if (this.ended) return method === 'write' ? false : this.raw; // after end(), as a real response would drop it
    if (this.calls.length === 0) Object.defineProperty(this.raw, 'headersSent', { configurable: true, get: () => true });
    this.calls.push({ method, args });
    if (method === 'end') this.ended = true;
    const sending = this.sending;
    this.sending = undefined;
    sending?.();
    return method === 'write' ? true : method === 'flushHeaders' ? undefined : this.raw;
  }

  private unhook(): void {
    if (!this.hooked) return;
    this.hooked = false;
    for (const method of this.originals.keys()) delete (this.raw as unknown as Record<string, unknown>)[method];
    delete (this.raw as unknown as Record<string, unknown>).headersSent;
  }

  /** Replays the held calls on the response itself, with the session's cookies. */
  private send(): void {
    this.unhook();
    const calls = this.calls.splice(0);
    for (const { method, args } of calls) {
      const original = this.originals.get(method)!;
      original.apply(this.raw, method === 'writeHead' ? this.withCookies(args) : args);
    }
  }

  /** `writeHead(status, [message], [headers])` with the session's cookies among its headers. */
  private withCookies(args: unknown[]): unknown[] {
    if (this.cookies.length === 0) return args;
    const cookies = this.cookies.splice(0);
    const at = typeof args[1] === 'string' ? 2 : 1;
    const headers = args[at];
    const copy = [...args];
    if (Array.isArray(headers)) {
      copy[at] = Array.isArray(headers[0]) ? [...headers, ...cookies.map((c) => ['set-cookie', c])] : [...headers, ...cookies.flatMap((c) => ['set-cookie', c])];
    } else if (headers && typeof headers === 'object') {
      const record = headers as Record<string, unknown>;
      const name = Object.keys(record).find((key) => key.toLowerCase() === 'set-cookie') ?? 'set-cookie';
      const existing = record[name] === undefined ? [] : ([] as unknown[]).concat(record[name]);
      copy[at] = { ...record, [name]: [...existing, ...cookies] };
    } else {
      const existing = this.raw.getHeader('set-cookie');
      this.raw.setHeader('set-cookie', [...(existing === undefined ? [] : ([] as string[]).concat(existing as string | string[])), ...cookies]);
    }
    return copy;
  }

  /** The session could not be saved: the client gets that error instead of the handler's answer. */
  private answerError(error: unknown): void {
    this.unhook();
    this.calls.length = 0;
    const raw = this.raw;
    if (raw.headersSent || raw.destroyed) return;
    const status = error instanceof HttpException ? error.getStatus() : 500;
    const response = error instanceof HttpException ? error.getResponse() : 'Internal server error';
    const body = JSON.stringify(typeof response === 'string' ? { statusCode: status, message: response } : response);
    for (const name of ANSWER_HEADERS) raw.removeHeader(name);
    raw.statusCode = status;
    raw.setHeader('content-type', 'application/json; charset=utf-8');
    raw.setHeader('content-length', Buffer.byteLength(body));
    raw.end(body);
  }
}
