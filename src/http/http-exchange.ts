import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionExchange } from '../exchange/session-exchange.js';

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

/**
 * An HTTP request/response pair as a session exchange, over Express and Fastify alike (Nest hands
 * us an Express `Request`/`Response` or a Fastify `FastifyRequest`/`FastifyReply`).
 */
export function httpExchange(request: object, response: object): SessionExchange {
  const req = request as AnyRequest;
  const res = response as AnyResponse;
  const fastifyReply = res.raw !== undefined && typeof res.header === 'function';
  const raw = (res.raw ?? res) as ServerResponse;
  return {
    key: request,
    transport: 'http',
    cookieHeader: () => req.headers.cookie,
    // Express's `protocol` honours its trust-proxy setting, Fastify's its `trustProxy`.
    isHttps: () => req.protocol === 'https',
    canSetCookie: () => !raw.headersSent,
    // Fastify appends repeated set-cookie headers itself; Express needs `append`.
    appendSetCookie: (value) => (fastifyReply ? res.header!('set-cookie', value) : res.append!('Set-Cookie', value)),
    setHeader: (name, value) => (fastifyReply ? res.header!(name, value) : res.setHeader!(name, value)),
    onClientGone: (listener) => {
      if (raw.destroyed && !raw.writableFinished) {
        listener();
        return () => {};
      }
      const onClose = () => {
        if (!raw.writableFinished) listener();
      };
      raw.once('close', onClose);
      return () => raw.removeListener('close', onClose);
    },
    // 'prefinish' is emitted by `end()` even when the client is already gone ('finish' is not then).
    onAnswered: (listener) => {
      if (raw.writableEnded) listener();
      else raw.once('prefinish', listener);
    },
  };
}
