/**
 * `nestjs-session-state/testing`: helpers for the tests of an application using the module, and
 * the conformance suite of a custom store. Never imported by the main entry point.
 */
export { createTestSession, type TestSessionData, type TestSessionOptions } from './test-session.js';
export { seedSession, readSession, type SeedSessionOptions, type SessionStateApp, type StoredSessionData } from './seeded-session.js';
export {
  describeSessionStateStoreConformance,
  type ConformanceTarget,
  type ConformanceTestApi,
  type ConformanceClock,
} from './session-state-store.conformance.js';
