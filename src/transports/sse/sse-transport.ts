import type { ExecutionContext } from '@nestjs/common';
import { httpTransport } from '../http/http-transport.js';
import type { SessionTransport } from '../session-transport.js';
import { isSseHandler, sseExchange } from './sse-session.js';

/** Per handler, whether it is an `@Sse()` stream (asked on every HTTP request). */
const sseHandlers = new WeakMap<Function, boolean>();

function isSse(handler: Function): boolean {
  let sse = sseHandlers.get(handler);
  if (sse === undefined) sseHandlers.set(handler, (sse = isSseHandler(handler)));
  return sse;
}

/** An `@Sse()` route: an HTTP request whose answer is a stream, so it reads a snapshot (see sse-session.ts). */
export const sseTransport: SessionTransport = {
  ...httpTransport,
  shape: 'stream',
  serves: (context: ExecutionContext) => isSse(context.getHandler()),
  exchange: (context) => sseExchange(httpTransport.exchange(context)),
  streamDecoratorOf: (handler) => (isSseHandler(handler) ? '@Sse()' : undefined),
  // An event of a session signed out meanwhile (on any instance) must not go out: each is checked.
  checksEachEvent: true,
  endsAtShutdown: true,
};
