/**
 * Unknown option keys (a typo, or `{ cookieName: 'x' }` from a JavaScript config object) would be
 * ignored silently; they are refused at startup, with the nearest valid key.
 */

/** The valid keys of an options object; a nested object's keys under its own key. */
export interface OptionKeys {
  [key: string]: OptionKeys | true;
}

/**
 * One message per unknown key: `cookieName` is not an option (did you mean `cookie`?), or what
 * `explain` answers for its path (`cookie.expires`), when it knows the key from elsewhere.
 */
export function unknownOptionKeys(
  options: unknown,
  valid: OptionKeys,
  explain: (path: string) => string | undefined = () => undefined,
  prefix = '',
): string[] {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) return [];
  const problems: string[] = [];
  for (const key of Object.keys(options)) {
    const rule = Object.hasOwn(valid, key) ? valid[key] : undefined;
    if (rule === undefined) {
      const explained = explain(`${prefix}${key}`);
      if (explained !== undefined) {
        problems.push(explained);
        continue;
      }
      const nearest = nearestKey(key, Object.keys(valid));
      problems.push(`${prefix}${key} is not an option${nearest ? ` (did you mean ${prefix}${nearest}?)` : ''}`);
    } else if (rule !== true) {
      problems.push(...unknownOptionKeys((options as Record<string, unknown>)[key], rule, explain, `${prefix}${key}.`));
    }
  }
  return problems;
}

/** The valid key closest to `key` by edit distance (case-insensitive), if it is reasonably close. */
function nearestKey(key: string, candidates: string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { key: candidate, distance };
  }
  if (!best) return undefined;
  // `cookieName` → `cookie` is 4 edits but a containment: suggest it; otherwise at most ~half the key.
  const contains = key.toLowerCase().includes(best.key.toLowerCase()) || best.key.toLowerCase().includes(key.toLowerCase());
  return contains || best.distance <= Math.max(2, Math.floor(key.length / 2)) ? best.key : undefined;
}

/** Levenshtein distance, two rows. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
