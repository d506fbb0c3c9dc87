/**
 * `nestjs-session-state/health`: the `@nestjs/terminus` integration. A separate entry point, so that
 * an application without terminus (an optional peer dependency) never loads it.
 */
export { SessionStateHealthIndicator, type SessionStateHealthCheckOptions } from './session-state.health-indicator.js';
