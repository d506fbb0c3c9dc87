import { SetMetadata } from '@nestjs/common';
import { SESSION_STATE_BEHAVIOR_METADATA } from './session-state.constants.js';
import type { SessionStateBehavior } from './session-state-behavior.enum.js';

/**
 * Declares how a controller's handlers, or one handler, use the session. The handler's
 * declaration wins over its controller's.
 */
export const SessionState = (behavior: SessionStateBehavior) => SetMetadata(SESSION_STATE_BEHAVIOR_METADATA, behavior);
