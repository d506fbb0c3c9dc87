export { SessionStateModule } from './session-state.module.js';
export type {
  SessionStateModuleOptions,
  SessionCookieOptions,
  SessionLockWaitOptions,
} from './session-state.options.js';
export { Session } from './session.decorator.js';
export { SessionState } from './session-state.decorator.js';
export { SessionStateBehavior } from './session-state-behavior.enum.js';
export { HttpSessionState, type HttpSessionCookie } from './http-session-state.js';
export type {
  SessionStateData,
  JsonValue,
  JsonPrimitive,
  JsonSafe,
  SessionKey,
  SessionValue,
  SessionInput,
} from './session-data.js';
export { SessionStateAccessor } from './session-state.accessor.js';
export { SessionRevoker } from './session-revoker.js';
export {
  SessionStateStore,
  SessionStateActions,
  type SessionStateStoreData,
  type SessionStateStoreItem,
  type SessionStateExpireCallback,
  type SessionStateStoreHealth,
  type RemoveItemOptions,
} from './store/session-state-store.js';
export { InMemorySessionStateStore } from './store/in-memory/in-memory-session-state.store.js';
export type { InMemorySessionStateStoreOptions } from './store/in-memory/in-memory-session-state-store.options.js';
export { DynamoDBSessionStateStore } from './store/dynamodb/dynamodb-session-state.store.js';
export type { DynamoDBSessionStateStoreOptions } from './store/dynamodb/dynamodb-session-state-store.options.js';
export {
  SessionStateError,
  SessionStateCorruptError,
  SessionStateLockLostError,
  SessionStateEndedWhileWaitingError,
  SessionStateTooLargeError,
  SessionStateStoreUnavailableError,
  SessionStateStoreMisconfiguredError,
  SessionStateQueueFullError,
  SessionStateWaitAbortedError,
  SessionStateReadOnlyError,
  SessionStateUnsupportedContextError,
  SessionStateValueError,
} from './errors/session-state.errors.js';
