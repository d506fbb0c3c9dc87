import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionExchange } from '../../core/session-exchange.js';
import { HttpHeldAnswer } from './held-answer.js';

interface AnyRequest {
  raw?: IncomingMessage;
  headers: IncomingMessage['headers'];
  protocol?: string;
  /** Express: the URL as received (`url` loses the prefix under `app.use(path, …)`). */
  originalUrl?: string;
  url?: string;
  /** Express's and Fastify's client address (each honours its trust-proxy setting). */
  ip?: string;
  socket?: IncomingMessage['socket'];
}
interface AnyResponse {
  raw?: ServerResponse;
  append?(name: string, value: string): unknown;
  header?(name: string, value: string): unknown;
  setHeader?(name: string, value: string): unknown;
}

/**
 * An HTTP request/response pair as a session exchange, over Express and Fastify alike (Nest hands
 * us an Express `Request`/`Response` or a Fastify `FastifyRequest`/`FastifyReply`). A class, not
 * an object of closures: one is made per request, and the allocations showed in the profile.
 */
export class HttpExchange implements SessionExchange {
  readonly key: object;
  private readonly req: AnyRequest;
  private readonly res: AnyResponse;
  private readonly raw: ServerResponse;
  private readonly fastifyReply: boolean;
  /** The handler's own answer, held until the session is completed (a handler that takes `@Res()`). */
  private held: HttpHeldAnswer | undefined;

  constructor(
    request: object,
    response: object,
    readonly transport: 'http' | 'graphql' = 'http',
    /** The unit of work's identity; the request unless another acquisition of it must stay apart (the mount's). */
    key: object = request,
  ) {
    this.key = key;
    this.req = request as AnyRequest;
    this.res = response as AnyResponse;
    this.fastifyReply = this.res.raw !== undefined && typeof this.res.header === 'function';
    this.raw = (this.res.raw ?? this.res) as ServerResponse;
  }

  cookieHeader(): string | undefined {
    return this.req.headers.cookie;
  }

  /** A repeated header reads as Node joins it (`a, b`): never a valid id. */
  requestHeader(name: string): string | undefined {
    const value = this.req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  /** For `recordClient`: the user agent, and the address as the platform reports it. */
  clientInfo(): { userAgent?: string; address?: string } {
    const address = this.req.ip ?? (this.req.raw ?? this.req).socket?.remoteAddress;
    return { userAgent: this.req.headers['user-agent'], address };
  }

  /** Express's `protocol` honours its trust-proxy setting, Fastify's its `trustProxy`. */
  isHttps(): boolean {
    return this.req.protocol === 'https';
  }

  /** For `cookie.path`: Express's `originalUrl`, Fastify's `url` (both the target as received). */
  requestTarget(): string | undefined {
    return this.req.originalUrl ?? this.req.url;
  }

  canSetCookie(): boolean {
    return this.held ? this.held.canSetCookie() : !this.raw.headersSent;
  }

  /** Holds the answer the handler sends itself until the session is completed (see `HttpHeldAnswer`). */
  holdAnswer(options?: { sentByNest?: boolean }): HttpHeldAnswer {
    return (this.held ??= new HttpHeldAnswer(this.raw, options?.sentByNest ?? false));
  }

  /**
   * Sets the session cookie on the answer, in place of one set earlier in this request (a mid-request
   * `save()`'s, then completion's renewal or a regenerated id's): the client gets one session cookie,
   * the last. Other cookies stay. Fastify appends repeated set-cookie headers itself; Express needs `append`.
   */
  appendSetCookie(value: string): void {
    const name = value.slice(0, value.indexOf('=') + 1);
    this.held?.noteCookie(value, name); // an answer held: the cookie is checked on its headers when they go out
    const getHeader = (this.fastifyReply ? this.res : this.raw) as { getHeader(name: string): unknown };
    const before = ([] as unknown[]).concat(getHeader.getHeader('set-cookie') ?? []).map(String);
    const others = before.filter((cookie) => !cookie.startsWith(name));
    if (others.length !== before.length) {
      (this.fastifyReply ? (this.res as { removeHeader(name: string): unknown }) : this.raw).removeHeader('set-cookie');
      for (const cookie of others) this.addSetCookie(cookie);
    }
    this.addSetCookie(value);
  }

  private addSetCookie(value: string): void {
    if (this.fastifyReply) this.res.header!('set-cookie', value);
    else this.res.append!('Set-Cookie', value);
  }

  setHeader(name: string, value: string): void {
    this.held?.noteHeader(name, value); // an answer held: checked on its headers when they go out, as a cookie is
    if (this.fastifyReply) this.res.header!(name, value);
    else this.res.setHeader!(name, value);
  }

  /** The client went away before the answer was sent (its socket may be destroyed before the response knows). */
  clientGone(): boolean {
    // Whether it finished is asked last: of the three, it is the costly getter, and rarely needed.
    const gone = this.raw.destroyed || (this.req.raw ?? (this.req as unknown as IncomingMessage)).socket?.destroyed === true;
    return gone && !this.raw.writableFinished;
  }

  onClientGone(listener: () => void): () => void {
    const raw = this.raw;
    if (this.clientGone()) {
      listener();
      return () => {};
    }
    let told = false;
    const onClose = () => {
      if (told || raw.writableFinished) return;
      told = true;
      listener();
    };
    raw.once('close', onClose);
    // A pipelined request waiting its turn on its connection: its response gets no 'close' when the
    // client closes the connection (Node 20), the socket does (review R17).
    const socket = (this.req.raw ?? (this.req as unknown as IncomingMessage)).socket;
    socket?.once('close', onClose);
    return () => {
      raw.removeListener('close', onClose);
      socket?.removeListener('close', onClose);
    };
  }

  onClosed(listener: (answered: boolean) => void): void {
    const raw = this.raw;
    if (this.clientGone()) return listener(false);
    // `on`, not `once`: a response closes once, and `once` makes a wrapper per request.
    raw.on('close', () => listener(raw.writableFinished));
  }

  /** 'prefinish' is emitted by `end()` even when the client is already gone ('finish' is not then). */
  onAnswered(listener: () => void): void {
    if (this.raw.writableEnded) listener();
    else this.raw.once('prefinish', listener);
  }
}
