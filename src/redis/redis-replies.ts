import type { RedisReply } from './redis-commands.js';
import { corruptRecord } from './redis-errors.js';

/** A reply that must be a list (a script's table). */
export function list(reply: RedisReply): RedisReply[] {
  if (!Array.isArray(reply)) throw corruptRecord('Redis answered in an unexpected shape');
  return reply;
}

/** A reply's code: a bare one ('OK', 'A', 'G', …), or the first element of a list. */
export function code(reply: RedisReply): string {
  const first = Array.isArray(reply) ? reply[0] : reply;
  return first instanceof Buffer ? first.toString() : String(first);
}

export function integer(value: RedisReply | undefined): number {
  return typeof value === 'number' ? value : Number(String(value));
}
