import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The few things the lifecycle needs from a request/response pair, over Express and Fastify
 * alike (Nest hands us an Express `Request`/`Response` or a Fastify `FastifyRequest`/`FastifyReply`).
 */
export interface HttpExchange {
  readonly request: object;
  /** The Node response: its 'close' event tells an aborted or finished exchange. */
  readonly rawResponse: ServerResponse;
  cookieHeader(): string | undefined;
  isHttps(): boolean;
  appendSetCookie(value: string): void;
  setHeader(name: string, value: string): void;
}

interface AnyRequest {
  raw?: IncomingMessage;
  headers: IncomingMessage['headers'];
  protocol?: string;
}
interface AnyResponse {
  raw?: ServerResponse;
  append?(name: string, value: string): unknown;
  header?(name: string, value: string): unknown;
  setHeader?(name: string, value: string): unknown;
}

export function httpExchange(request: object, response: object): HttpExchange {
  const req = request as AnyRequest;
  const res = response as AnyResponse;
  const fastifyReply = res.raw !== undefined && typeof res.header === 'function';
  return {
    request,
    rawResponse: (res.raw ?? res) as ServerResponse,
    cookieHeader: () => req.headers.cookie,
    // Express's `protocol` honours its trust-proxy setting, Fastify's its `trustProxy`.
    isHttps: () => req.protocol === 'https',
    // Fastify appends repeated set-cookie headers itself; Express needs `append`.
    appendSetCookie: (value) => (fastifyReply ? res.header!('set-cookie', value) : res.append!('Set-Cookie', value)),
    setHeader: (name, value) => (fastifyReply ? res.header!(name, value) : res.setHeader!(name, value)),
  };
}
