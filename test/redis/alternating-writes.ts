import request from 'supertest';
import type { SessionApp } from '../e2e/session-app.js';
import { sessionCookie } from '../support/test-app.js';

/**
 * 50 concurrent increments of one session, sent alternately to two instances: each answer is a
 * different count from 1 to 50 and the session ends at 50 (its writes were serialised across
 * instances), and no waiter needed the fallback poll (`probeLock`): each was woken by a release notice.
 */
export async function expectFiftyAlternatingWrites(a: SessionApp, b: SessionApp): Promise<void> {
  const [httpA, httpB] = [a.app.getHttpServer(), b.app.getHttpServer()];
  const cookie = sessionCookie((await request(httpA).post('/seed').expect(200)).headers)!;
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      request(i % 2 ? httpB : httpA)
        .post('/count')
        .set('Cookie', cookie)
        .expect(200),
    ),
  );
  expect(answers.map((r) => r.body.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  await request(httpB).get('/count').set('Cookie', cookie).expect(200, { count: 50 });
  expect((a.counter.calls.probeLock ?? 0) + (b.counter.calls.probeLock ?? 0)).toBe(0);
}
