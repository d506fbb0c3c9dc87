import type { SessionTransport } from '../session-transport.js';
import { loadWsException, toWsException } from './to-ws-exception.js';
import { wsExchange } from './ws-exchange.js';
import { messageLease } from './ws-message-lease.js';

/** A WebSocket gateway's message: the lifecycle around the handler, the lease in the message's async context. */
export const wsTransport: SessionTransport = {
  contextType: 'ws',
  shape: 'request',
  exchange(context) {
    void loadWsException();
    return wsExchange(context);
  },
  // The first message of a process waits for WsException (a dynamic import): an error rendered
  // before it loaded would reach Nest's filter raw ("Internal server error", logged unredacted).
  ready: loadWsException,
  lease: () => messageLease(),
  noSession:
    'this WebSocket message has no session: the handler is declared SessionStateBehavior.Disabled, or SessionStateModule ' +
    'is not imported (its interceptor runs the session of each message).',
  guardAccess: 'snapshot',
  completesUnusedSessions: false,
  // Nest's adapters send each value at once: an answer must not say "saved" before the save did.
  valuesAfterSave: true,
  clientError: (error) => toWsException(error),
  // Nest's WebSocket filter answers anything but a WsException "Internal server error".
  handlerError: toWsException,
};
