import { describe, expect, it } from 'vitest';
import { checkedEvents } from '../../src/nest/checked-events.js';

/** A check the test settles by hand, counting how many were started. */
function manualCheck() {
  const started: { resolve(): void; reject(error: unknown): void }[] = [];
  const check = () => new Promise<void>((resolve, reject) => started.push({ resolve, reject }));
  return { check, started };
}

function recorder() {
  const seen: string[] = [];
  return {
    seen,
    observer: {
      next: (v: number) => seen.push(`next ${v}`),
      error: (e: unknown) => seen.push(`error ${String(e)}`),
      complete: () => seen.push('complete'),
    },
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('checkedEvents (an @Sse() stream of a session that may end)', () => {
  it('sends each event only after a check started after it came, in order; events that come during a check share the next one', async () => {
    const { check, started } = manualCheck();
    const { seen, observer } = recorder();
    const checked = checkedEvents(observer, check, (e) => e);
    checked.next(1);
    expect(started).toHaveLength(1);
    checked.next(2);
    checked.next(3);
    expect(seen).toEqual([]); // nothing before its check
    started[0]!.resolve();
    await flush();
    expect(seen).toEqual(['next 1']);
    expect(started).toHaveLength(2); // one check for 2 and 3
    started[1]!.resolve();
    await flush();
    expect(seen).toEqual(['next 1', 'next 2', 'next 3']);
    expect(started).toHaveLength(2);
  });

  it('the handler’s end comes after the events before it', async () => {
    const { check, started } = manualCheck();
    const { seen, observer } = recorder();
    const checked = checkedEvents(observer, check, (e) => e);
    checked.next(1);
    checked.complete();
    expect(seen).toEqual([]);
    started[0]!.resolve();
    await flush();
    expect(seen).toEqual(['next 1', 'complete']);
  });

  it('a failed check ends the stream with the client’s error: no event of its batch or after it, no second end', async () => {
    const { check, started } = manualCheck();
    const { seen, observer } = recorder();
    const checked = checkedEvents(observer, check, (e) => `client(${String(e)})`);
    checked.next(1);
    checked.next(2);
    started[0]!.reject('ended');
    await flush();
    checked.next(3);
    checked.complete();
    await flush();
    expect(seen).toEqual(['error client(ended)']);
    expect(started).toHaveLength(1);
  });

  it('a throw downstream ends the stream with that error, not an unhandled rejection', async () => {
    const { check, started } = manualCheck();
    const seen: string[] = [];
    const checked = checkedEvents<number>(
      {
        next: () => {
          throw new Error('downstream');
        },
        error: (e: unknown) => seen.push(`error ${(e as Error).message}`),
        complete: () => seen.push('complete'),
      },
      check,
      (e) => e,
    );
    checked.next(1);
    started[0]!.resolve();
    await flush();
    expect(seen).toEqual(['error downstream']);
  });

  it('without events pending, an end passes at once', () => {
    const { check } = manualCheck();
    const { seen, observer } = recorder();
    checkedEvents(observer, check, (e) => e).error('boom');
    expect(seen).toEqual(['error boom']);
  });
});
