import { validateHeaderName, validateHeaderValue } from 'node:http';

/**
 * Throws what Node's response would throw for an output call, before the call is held: a held call
 * runs only once the session is saved, so a handler's invalid `end(42)` or `writeHead(200, { bad })`
 * must fail in the handler, as without the hold (its changes discarded, the client a 500), not
 * after its session was saved. Covers what Node checks of the arguments themselves: chunk types,
 * the status code, header names and values (with Node's own public validators).
 */
export function checkOutputCall(method: 'writeHead' | 'write' | 'end' | 'flushHeaders', args: readonly unknown[]): void {
  if (method === 'write') return checkChunk(args[0], false);
  if (method === 'end') return typeof args[0] === 'function' ? undefined : checkChunk(args[0], true);
  if (method === 'writeHead') return checkHead(args);
}

function checkChunk(chunk: unknown, optional: boolean): void {
  if (optional && (chunk === undefined || chunk === null)) return;
  if (chunk === null) throw codeError(new TypeError('May not write null values to stream'), 'ERR_STREAM_NULL_VALUES');
  if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
    throw codeError(
      new TypeError(`The "chunk" argument must be of type string or an instance of Buffer or Uint8Array. Received ${describe(chunk)}`),
      'ERR_INVALID_ARG_TYPE',
    );
  }
}

function checkHead(args: readonly unknown[]): void {
  // As Node reads it (`statusCode |= 0`).
  const status = Number(args[0]) | 0;
  if (status < 100 || status > 999) throw codeError(new RangeError(`Invalid status code: ${String(args[0])}`), 'ERR_HTTP_INVALID_STATUS_CODE');
  if (typeof args[1] === 'string' && /[^\t\x20-\x7e\x80-\xff]/.test(args[1])) {
    throw codeError(new TypeError('Invalid character in statusMessage'), 'ERR_INVALID_CHAR');
  }
  const headers = typeof args[1] === 'string' ? args[2] : args[1];
  if (headers === undefined || headers === null || typeof headers !== 'object') return;
  for (const [name, value] of headerEntries(headers)) {
    validateHeaderName(String(name));
    validateHeaderValue(String(name), value as string);
  }
}

/** `writeHead`'s headers as pairs: an object, a flat `[name, value, …]` array or an array of pairs. */
function headerEntries(headers: object): [unknown, unknown][] {
  if (!Array.isArray(headers)) return Object.entries(headers);
  if (Array.isArray(headers[0])) return (headers as unknown[][]).map(([name, value]) => [name, value]);
  return Array.from({ length: Math.floor(headers.length / 2) }, (_, i) => [headers[2 * i], headers[2 * i + 1]]);
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  return `type ${typeof value} (${String(value as string | number | boolean | bigint | symbol).slice(0, 20)})`;
}

function codeError<E extends Error>(error: E, code: string): E {
  return Object.assign(error, { code });
}
