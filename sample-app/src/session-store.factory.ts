import type { ConfigService } from '@nestjs/config';
import { InMemorySessionStateStore, type SessionStateStore } from 'nestjs-session-state';

/** `SESSION_STORE=memory` (default) or `dynamodb`. */
export function createSessionStore(config: ConfigService): SessionStateStore {
  const kind = config.get<string>('SESSION_STORE', 'memory');
  switch (kind) {
    case 'memory':
      return new InMemorySessionStateStore();
    default:
      throw new Error(`SESSION_STORE must be 'memory' or 'dynamodb', not '${kind}'.`);
  }
}
