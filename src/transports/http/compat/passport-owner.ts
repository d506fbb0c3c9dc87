import type { HttpSessionState } from '../../../session/http-session-state.js';
import { ownerProblem } from '../../../session/http-session-state.js';

/**
 * The owner passport's login implies: the user as the serializer stored it (an id, or an object
 * with an `id`) under `passport.user` (passport) or `passport` (@fastify/passport), as a string; undefined when there is none or it is not usable as an owner.
 */
export function ownerOfPassportUser(session: HttpSessionState): string | undefined {
  const passport = (session as unknown as { get(key: string): unknown }).get('passport');
  // passport keeps `{ user }` under its key; @fastify/passport the serialized user itself.
  const user = typeof passport === 'object' && passport !== null ? (passport as Record<string, unknown>).user : passport;
  const id = typeof user === 'object' && user !== null ? (user as Record<string, unknown>).id : user;
  const owner = typeof id === 'string' || typeof id === 'number' ? String(id) : undefined;
  return owner !== undefined && ownerProblem(owner) === undefined ? owner : undefined;
}
