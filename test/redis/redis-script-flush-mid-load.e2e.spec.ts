/**
 * SCRIPT FLUSH repeatedly while two instances serve 40 concurrent increments of one
 * session: every request answers 200, the count is exact (no save lost or applied twice), no lock is left.
 */
import { createClient, type RedisClientType } from 'redis';
import request from 'supertest';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { startSessionApp, type SessionApp } from '../e2e/session-app.js';
import { locksLeft } from '../support/redis-test-helpers.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { sessionCookie } from '../support/test-app.js';

let server: RedisServer;
let admin: RedisClientType;
const apps: SessionApp[] = [];
beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url });
  await admin.connect();
});
afterAll(async () => {
  await Promise.all(apps.map((a) => a.app.close()));
  admin?.destroy();
  await server?.stop();
});

it('NOSCRIPT mid-load (SCRIPT FLUSH while 40 increments run on two instances): all 200, count exact, no lock left', async () => {
  for (let i = 0; i < 2; i++) apps.push(await startSessionApp('express', { store: new RedisSessionStateStore({ url: server.url }) }));
  const [a, b] = apps.map((x) => x.app.getHttpServer());
  const cookie = sessionCookie((await request(a).post('/seed').expect(200)).headers)!;
  let done = false;
  let flushes = 0;
  const flusher = (async () => {
    while (!done) {
      await admin.scriptFlush();
      flushes++;
      await new Promise((r) => setImmediate(r));
    }
  })();
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      request(i % 2 ? b : a)
        .post('/count')
        .set('Cookie', cookie)
        .then((r) => r.status),
    ),
  );
  done = true;
  await flusher;
  expect(flushes).toBeGreaterThan(5);
  expect(answers.filter((s) => s !== 200)).toEqual([]);
  await request(a).post('/count').set('Cookie', cookie).expect(200, { count: 41 });
  expect(await locksLeft(admin)).toBe(0);
});
