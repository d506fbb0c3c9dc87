export { SessionStateModule } from './nest/session-state.module.js';
export type { SessionStateModuleOptions, SessionLockWaitOptions } from './module/session-state.options.js';
export type { SessionCookieOptions } from './module/session-cookie.options.js';
export { Session } from './nest/session.decorator.js';
export { SessionState } from './nest/session-state.decorator.js';
export { SessionStateBehavior } from './core/session-state-behavior.enum.js';
export { HttpSessionState, type HttpSessionCookie } from './session/http-session-state.js';
export type { SessionStateData, JsonValue, JsonPrimitive, JsonSafe, SessionKey, SessionValue, SessionInput } from './session/session-data.js';
export { SessionStateAccessor } from './nest/session-state.accessor.js';
export { SessionStateGuard } from './nest/session-state.guard.js';
export { SessionRevoker } from './nest/session-revoker.js';
export { SessionManager, type OwnerSessionInfo } from './nest/session-manager.js';
export type { SessionClient } from './session/client-summary.js';
export { mountSessionState, type MountSessionStateOptions } from './nest/compat/mount-session-state.js';
export type { RequestSession, RequestSessionCookie } from './transports/http/compat/request-session.facade.js';
export {
  SessionStateStore,
  SessionStateActions,
  MOVED_MARKER_MS,
  type SessionStateStoreData,
  type SessionStateRead,
  type SessionStateAcquisition,
  type SessionStateLoaded,
  type SessionStateAcquired,
  type SessionStateLocked,
  type SessionStateAbsent,
  type SessionStateExpireCallback,
  type SessionStateStoreHealth,
  type SessionStateOwnedSession,
  type RemoveItemOptions,
} from './store/session-state-store.js';
export type { OwnerCapPolicy, OwnerSessionsFound, OwnerSlotAnswer, OwnerSlotClaim, OwnerSlotBook, OwnerSlotEntries } from './store/owner-slots.js';
export { claimOwnerSlot, movesUnderWay } from './store/owner-slots.js';
export { InMemorySessionStateStore } from './store/in-memory/in-memory-session-state.store.js';
export type { InMemorySessionStateStoreOptions } from './store/in-memory/in-memory-session-state-store.options.js';
export {
  SessionStateError,
  SessionStateCorruptError,
  SessionStateLockLostError,
  type SessionStateLockLostReason,
  SessionStateEndedWhileWaitingError,
  SessionStateEndedError,
  SessionStateTooLargeError,
  SessionStateOwnerCapError,
  SessionStateStoreUnavailableError,
  SessionStateStoreMisconfiguredError,
  SessionStateQueueFullError,
  SessionStateWaitAbortedError,
  SessionStateReadOnlyError,
  SessionStateUnsupportedContextError,
  SessionStateValueError,
} from './errors/session-state.errors.js';
