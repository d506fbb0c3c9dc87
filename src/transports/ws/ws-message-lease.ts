import { AsyncLocalStorage } from 'node:async_hooks';
import type { SessionLease } from '../../core/session-lease.js';

/**
 * The lease of the WebSocket message being handled. Nest gives a gateway's interceptors and its
 * parameter decorators different argument arrays (and the message's data may be a primitive), so
 * no object of the message can carry it: the interceptor runs the handler inside this storage.
 */
const current = new AsyncLocalStorage<SessionLease>();

export function runWithMessageLease<T>(lease: SessionLease, run: () => T): T {
  return current.run(lease, run);
}

export function messageLease(): SessionLease | undefined {
  return current.getStore();
}
