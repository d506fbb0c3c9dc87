import { SessionStateValueError } from '../errors/session-state.errors.js';

/**
 * Refuses, at `set()`, a value JSON would not give back as it was: the error names the session
 * key and the path inside the value (never the value itself: it may be personal data).
 *
 * Allowed: strings, finite numbers, booleans, null, arrays of those (elements only: JSON drops a
 * named property), plain objects (prototype `Object.prototype` or `null`) with string keys. An
 * object property that is `undefined` is dropped, as JSON does; anywhere else `undefined` is
 * refused (in an array it would read back as `null`). Also refused: an array of a subclass (read
 * back as a plain array), and a value nested deeper than `MAX_VALUE_DEPTH` levels of arrays and
 * objects. `-0` reads back as `0`, as with JSON.
 */
export function assertSessionValue(key: string, value: unknown): void {
  const problem = findNonJson(value, [], []);
  if (problem) {
    throw new SessionStateValueError(
      `Session value "${key}" is not JSON data: ${formatPath([key, ...problem.path])} is ${problem.what}. ` +
        'Session values are JSON data (strings, finite numbers, booleans, null, arrays, plain objects).',
      key,
      formatPath(problem.path),
    );
  }
}

/**
 * Deepest nesting of arrays and objects a value may have. Bounds the recursive walk below (about
 * 3,200 levels overflowed the stack: a bare RangeError naming no key) and the stringify at save and
 * parse at load, with room to spare for the caller's own stack.
 */
export const MAX_VALUE_DEPTH = 1000;

interface Problem {
  path: (string | number)[];
  what: string;
}

function findNonJson(value: unknown, path: (string | number)[], ancestors: object[]): Problem | null {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      // -0 is kept as JSON keeps it (read back as 0, which equals it): a rounding that gives -0 is no mistake.
      return Number.isFinite(value) ? null : { path, what: `${value} (not a finite number)` };
    case 'undefined':
      return { path, what: 'undefined' };
    case 'bigint':
      return { path, what: 'a BigInt (store it as a string)' };
    case 'function':
      return { path, what: 'a function' };
    case 'symbol':
      return { path, what: 'a symbol' };
  }
  if (value === null) return null;
  const object = value as object;
  if (path.length >= MAX_VALUE_DEPTH) return { path, what: `nested deeper than ${MAX_VALUE_DEPTH} levels` };
  if (ancestors.includes(object)) return { path, what: 'a circular reference' };
  if (Array.isArray(object)) {
    // JSON gives back a plain array: a subclass's instance (and its methods) would be lost.
    if (Object.getPrototypeOf(object) !== Array.prototype) return { path, what: describeInstance(object, 'a plain array') };
    ancestors.push(object);
    for (let i = 0; i < object.length; i++) {
      // A hole reads `undefined`: refused like an explicit one (JSON would give back `null`).
      const problem = findNonJson(object[i], [...path, i], ancestors);
      if (problem) return problem;
    }
    // Every index holds a value now (holes were refused), and own keys list indices first: a key
    // past them is a named property, which JSON drops.
    const keys = Object.keys(object);
    if (keys.length > object.length)
      return { path: [...path, keys[object.length]!], what: 'a named property of an array (JSON keeps only the elements)' };
    ancestors.pop();
    return null;
  }
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) return { path, what: describeInstance(object, 'a plain object') };
  if (Object.getOwnPropertySymbols(object).length > 0) return { path, what: 'an object with symbol keys' };
  ancestors.push(object);
  for (const [k, v] of Object.entries(object)) {
    if (v === undefined) continue;
    const problem = findNonJson(v, [...path, k], ancestors);
    if (problem) return problem;
  }
  ancestors.pop();
  return null;
}

function describeInstance(object: object, instead: string): string {
  if (object instanceof Date) return 'a Date (store date.toISOString() or date.getTime())';
  if (object instanceof Map) return 'a Map (store Object.fromEntries(map) or [...map])';
  if (object instanceof Set) return 'a Set (store [...set])';
  const name = (object.constructor as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' && name !== '' ? `an instance of ${name} (store ${instead})` : `an object that is not ${instead}`;
}

function formatPath(path: (string | number)[]): string {
  return path
    .map((part, i) =>
      typeof part === 'number' ? `[${part}]` : /^[A-Za-z_$][\w$]*$/.test(part) ? (i === 0 ? part : `.${part}`) : `[${JSON.stringify(part)}]`,
    )
    .join('');
}
