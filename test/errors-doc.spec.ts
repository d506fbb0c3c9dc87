/**
 * docs/ERRORS.md documents every error class the package exports (from every entry point of
 * package.json's `exports`), with the HTTP status, client message and `Retry-After` of the catalog.
 * A class added without its row, or a catalog change the page does not follow, fails here.
 */
import { readFileSync } from 'node:fs';
import { sessionErrorOf } from '../src/errors/session-error-catalog.js';
import { recordStoreError } from '../src/errors/store-error-origin.js';

const root = new URL('../', import.meta.url);
const MESSAGE = 'doc-test-message';

/** Constructor arguments of the classes whose constructor is not `(message)`. */
const ARGS: Record<string, unknown[]> = {
  SessionStateQueueFullError: [100, 1],
  SessionStateLockLostError: [MESSAGE, 'lock_mismatch'],
  SessionStateEndedWhileWaitingError: [1], // as the lifecycle throws it (lockWait.retryAfterSeconds)
  SessionStateEndedError: [],
  SessionStateTooLargeError: [2, 1],
  SessionStateOwnerCapError: [2],
  SessionStateReadOnlyError: [],
  SessionStateUnsupportedContextError: ['rpc'],
  SessionStateValueError: [MESSAGE, 'key', ''],
};

type ErrorClass = new (...args: unknown[]) => Error;

/** Every exported class that is an Error, by name, from every entry point (`./x` is src/x/index.ts). */
async function exportedErrorClasses(): Promise<Map<string, ErrorClass>> {
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { exports: Record<string, unknown> };
  const classes = new Map<string, ErrorClass>();
  for (const entry of Object.keys(pkg.exports).filter((key) => key !== './package.json')) {
    const file = entry === '.' ? 'src/index.ts' : `src/${entry.slice(2)}/index.ts`;
    const module = (await import(new URL(file, root).href)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(module)) {
      if (typeof value === 'function' && value.prototype instanceof Error) classes.set(name, value as ErrorClass);
    }
  }
  return classes;
}

/** The rows of the "Every class" table: class → its cells. */
function documentedRows(): Map<string, { extends: string; status: string; message: string; retryAfter: string }> {
  const doc = readFileSync(new URL('docs/ERRORS.md', root), 'utf8');
  const table = doc.split('## Every class')[1]?.split('\n## ')[0] ?? '';
  const rows = new Map<string, { extends: string; status: string; message: string; retryAfter: string }>();
  for (const line of table.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const name = /^`(\w+)`$/.exec(cells[1] ?? '')?.[1];
    if (name) rows.set(name, { extends: cells[2], status: cells[4], message: cells[5], retryAfter: cells[6] });
  }
  return rows;
}

describe('docs/ERRORS.md', () => {
  it('has a row for every exported error class, and none for a class that is not exported', async () => {
    const exported = [...(await exportedErrorClasses()).keys()].sort();
    expect(exported.length).toBeGreaterThanOrEqual(12);
    expect([...documentedRows().keys()].sort()).toEqual(exported);
  });

  it("gives each class its base class, and the catalog's status, client message and Retry-After", async () => {
    const rows = documentedRows();
    for (const [name, type] of await exportedErrorClasses()) {
      const row = rows.get(name)!;
      const make = () => new type(...(ARGS[name] ?? [MESSAGE]));
      const thrownByModule = sessionErrorOf(make());
      const fromStore = make();
      recordStoreError(fromStore, []);
      const thrownByStore = sessionErrorOf(fromStore);

      expect(row.extends, name).toBe(`\`${Object.getPrototypeOf(type).name}\``);
      if (thrownByModule.status === undefined) expect(row.status, name).toContain('passed through');
      else expect(row.status, name).toMatch(new RegExp(`^${thrownByModule.status}\\b`));
      if (thrownByStore.status !== undefined) expect(row.status, name).toContain(String(thrownByStore.status));
      if (thrownByModule.kind === 'refusal' || thrownByModule.kind === 'store_failure') {
        // A class whose message is the module's own text when the module threw it: the catalog's is the store's.
        const catalogMessage = thrownByModule.message === MESSAGE ? thrownByStore.message : thrownByModule.message;
        expect(row.message, name).toContain(catalogMessage);
      }
      expect(row.retryAfter.startsWith('yes'), name).toBe(thrownByModule.retryAfterSeconds !== undefined);
    }
  });

  it("a lost lock the module refused with a retry hint (the mount's 409 for an outdated middleware change): the catalog sends it, the page says so", async () => {
    const type = (await exportedErrorClasses()).get('SessionStateLockLostError')!;
    expect(sessionErrorOf(new type(MESSAGE, 'lock_mismatch', 3)).retryAfterSeconds).toBe(3);
    expect(documentedRows().get('SessionStateLockLostError')!.retryAfter).toContain('`lockWait.retryAfterSeconds` (1)');
  });
});
