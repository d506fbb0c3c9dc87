/**
 * The sample app as `npm run start:redis-local` runs it (`SESSION_STORE=redis`, `REDIS_URL`), on a
 * real redis-server, Express and Fastify: it boots, counts, serialises concurrent increments across
 * two instances of itself, reports the store up, and closes the connections its store opened.
 */
import { createClient, type RedisClientType } from 'redis';
import request from 'supertest';
import { startRedisServer, type RedisServer } from '../../test/support/redis-server.js';
import { locksLeft } from '../../test/support/redis-test-helpers.js';
import { sidOf } from './support/cookies.js';
import { startSampleAppWith, type AdapterName } from './support/sample-app.js';

let redis: RedisServer;
let admin: RedisClientType;
beforeAll(async () => {
  redis = await startRedisServer();
  admin = createClient({ url: redis.url, name: 'test-admin' });
  await admin.connect();
});
afterAll(async () => {
  admin?.destroy();
  await redis?.stop();
});

/** Connections to the server other than this test's own. */
const appConnections = async () => (await admin.clientList()).filter((c) => c.name !== 'test-admin').length;

describe.each<AdapterName>(['express', 'fastify'])('sample app with SESSION_STORE=redis on %s', (adapter) => {
  const start = () => startSampleAppWith(adapter, { SESSION_STORE: 'redis', REDIS_URL: redis.url });

  it('boots, counts, and keeps the session in Redis under sess:{id}', async () => {
    const sample = await start();
    try {
      const first = await request(sample.server).post('/counter').expect(200);
      expect(first.body).toEqual({ count: 1 });
      const sid = sidOf(first);
      const cookie = `sid=${sid}`;
      await request(sample.server).post('/counter').set('Cookie', cookie).expect(200, { count: 2 });
      await request(sample.server).get('/counter').set('Cookie', cookie).expect(200, { count: 2 });
      expect(await admin.exists(`sess:{${sid}}`)).toBe(1);
      await request(sample.server)
        .get('/health')
        .expect(200)
        .expect((res) => expect(res.body).toMatchObject({ status: 'ok', info: { session_store: { status: 'up' } } }));
    } finally {
      await sample.close();
    }
  });

  it('serialises 20 concurrent increments sent to two instances on one Redis: 20 counted, no lock left', async () => {
    const [a, b] = [await start(), await start()];
    try {
      const cookie = `sid=${sidOf(await request(a.server).post('/counter').expect(200))}`;
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          request((i % 2 ? b : a).server)
            .post('/counter')
            .set('Cookie', cookie)
            .expect(200),
        ),
      );
      // Each increment saw the one before it: the counts are 2..21, each once.
      expect(answers.map((r) => (r.body as { count: number }).count).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
      await request(b.server).get('/counter').set('Cookie', cookie).expect(200, { count: 21 });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    expect(await locksLeft(admin)).toBe(0);
  });

  it("closes its store's connections (client and subscriber) when the app closes", async () => {
    const before = await appConnections();
    const [a, b] = [await start(), await start()];
    const cookie = `sid=${sidOf(await request(a.server).post('/counter').expect(200))}`;
    // Concurrent requests on two instances: one usually waits for the other's lock, which opens its subscriber connection.
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        request((i % 2 ? b : a).server)
          .post('/counter')
          .set('Cookie', cookie)
          .expect(200),
      ),
    );
    expect(await appConnections()).toBeGreaterThan(before);
    await Promise.all([a.close(), b.close()]);
    // The server notices a closed connection on its next read: wait for it (bounded), not a fixed pause.
    await vi.waitFor(async () => expect(await appConnections()).toBe(before), { timeout: 5_000, interval: 20 });
  });
});
