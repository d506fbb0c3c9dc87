import type { ExecutionContext } from '@nestjs/common';
import { SessionStateUnsupportedContextError } from '../../errors/session-state.errors.js';
import type { SessionExchange } from '../../core/session-exchange.js';
import { handshakeOf } from './ws-handshake.js';
import { runWithMessageLease } from './ws-message-lease.js';

const CANNOT_START =
  'This WebSocket connection has no session to write to: its handshake carried no valid session cookie (or id header), and a ' +
  'message cannot set one. Start the session over HTTP (a request that writes to it sets the cookie), then connect.';
const UNKNOWN_HANDSHAKE =
  "This WebSocket connection's handshake is unknown, so its session cannot be found: with @nestjs/platform-ws the " +
  "gateway must share the application's HTTP server (no `port` of its own).";

/**
 * One WebSocket message as a session exchange (`key`: an object made for it). Its handler runs
 * inside the message's lease (see ws-message-lease.ts). A message cannot set a cookie: the session
 * is the one the handshake's cookie names.
 */
export function wsExchange(context: ExecutionContext, key: object = {}): SessionExchange {
  const client = context.switchToWs().getClient<unknown>();
  const handshake = handshakeOf(client);
  if (!handshake) throw new SessionStateUnsupportedContextError('ws', UNKNOWN_HANDSHAKE);
  return {
    key,
    transport: 'ws',
    cookieHeader: () => handshake.cookieHeader,
    requestHeader: (name) => handshake.requestHeader(name),
    isHttps: () => handshake.isHttps,
    canSetCookie: () => false,
    appendSetCookie: () => {},
    setHeader: () => {},
    onClientGone: (listener) => onClose(client, listener),
    // A message has no answer to wait for: a lease a guard left behind is released when the lock turns stale, or at disconnect.
    onAnswered: (listener) => void onClose(client, listener),
    cannotStartSession: CANNOT_START,
    refusesEndedSession: true,
    runHandler: runWithMessageLease,
  };
}

interface Closable {
  once?(event: string, listener: () => void): unknown;
  connected?: boolean;
  readyState?: number;
}

/** Per client, the listeners waiting for it to disconnect: one socket listener, however many messages wait. */
const closeListeners = new WeakMap<object, Set<() => void>>();

/** Calls `listener` once the client disconnects (socket.io `disconnect`, ws `close`); returns a remover. */
function onClose(client: unknown, listener: () => void): () => void {
  const socket = client as Closable;
  if (typeof socket?.once !== 'function') return () => {};
  if (socket.connected === false || (socket.readyState !== undefined && socket.readyState > 1)) {
    listener();
    return () => {};
  }
  let listeners = closeListeners.get(socket);
  if (!listeners) {
    const all = (listeners = new Set());
    closeListeners.set(socket, all);
    socket.once('handshake' in socket ? 'disconnect' : 'close', () => {
      closeListeners.delete(socket);
      for (const l of all) l();
    });
  }
  listeners.add(listener);
  return () => void listeners.delete(listener);
}
