/**
 * docs/USAGE.md's options table (the README sends users there for "every option, its bounds") has a
 * row for every option the module accepts, nested ones included (`cookie.name`, `lockWait.pollMinMs`),
 * and no row for an option it refuses. An option added without its row fails here (review R11 found
 * three missing: idHeader, maxSessionsPerOwner, ownerCapPolicy).
 */
import { readFileSync } from 'node:fs';
import type { OptionKeys } from '../src/module/options-keys.js';
import { OPTION_KEYS } from '../src/module/session-state.options.js';

const usage = readFileSync(new URL('../docs/USAGE.md', import.meta.url), 'utf8');

/** The option names of the table's first column: `a.b` / `c` names `a.b` and `a.c`. */
function documentedOptions(): Set<string> {
  const table = usage.split('\n## Options\n')[1]!.split('\n## ')[0]!;
  const names = new Set<string>();
  for (const line of table.split('\n')) {
    const cell = /^\| (`[^|]+`) \|/.exec(line)?.[1];
    if (!cell) continue;
    const [first, ...more] = [...cell.matchAll(/`([\w.]+)`/g)].map((m) => m[1]!);
    names.add(first!);
    const prefix = first!.includes('.') ? first!.slice(0, first!.lastIndexOf('.') + 1) : '';
    for (const name of more) names.add(name.includes('.') ? name : prefix + name);
  }
  return names;
}

/** Every accepted key, an object's keys as `object.key` (the object itself too). */
function acceptedOptions(keys: OptionKeys = OPTION_KEYS, prefix = ''): string[] {
  return Object.entries(keys).flatMap(([key, rule]) => (rule === true ? [prefix + key] : acceptedOptions(rule, `${prefix}${key}.`)));
}

describe('docs/USAGE.md options table', () => {
  it('has a row for every option the module accepts', () => {
    const documented = documentedOptions();
    expect(acceptedOptions().filter((key) => !documented.has(key))).toEqual([]);
  });

  it('has no row for an option the module refuses (isGlobal is the module definition’s own)', () => {
    const accepted = new Set([...acceptedOptions(), 'isGlobal']);
    expect([...documentedOptions()].filter((name) => !accepted.has(name))).toEqual([]);
  });
});
