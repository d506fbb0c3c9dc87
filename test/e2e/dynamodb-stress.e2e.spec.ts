/**
 * The end-to-end promise under stress: concurrent writers on two instances sharing one DynamoDB
 * Local table, an outer timeout interceptor giving up on some requests, and faults injected at the
 * SDK middleware (throttling, slow answers, writes applied whose answer is lost). Afterwards no
 * record is left locked, no lease is left active, and every acknowledged write is present.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import request from 'supertest';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { throttlingError } from '../support/dynamodb-fault-middleware.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { withOuterTimeout } from '../support/timeout.interceptor.js';
import { idOf, startSessionApp, type SessionApp } from './session-app.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { prng } from '../support/prng.js';

const tableName = uniqueTableName('stress');
afterAll(() => deleteTable(tableName));

/** A connection reset after DynamoDB applied the request: the SDK retries it (its answer was lost). */
function answerLost(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', $metadata: {} });
}

/**
 * Faults on a client's calls: some are throttled before they are sent (the SDK retries), some are
 * slowed, some are applied by DynamoDB and then their answer is lost (the SDK retries; the retry's
 * condition fails). Counts what it injected.
 */
function injectRandomFaults(client: DynamoDBClient, random: () => number): Record<string, number> {
  const injected: Record<string, number> = { throttled: 0, slowed: 0, answerLost: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      const dice = random();
      if (dice < 0.02) {
        injected.throttled++;
        throw Object.assign(throttlingError(), { $metadata: {}, $retryable: { throttling: true } });
      }
      if (dice < 0.07) {
        injected.slowed++;
        await sleep(40);
      }
      const output = await next(args);
      if (dice > 0.95) {
        injected.answerLost++;
        throw answerLost();
      }
      return output;
    },
    // Inside the SDK's retry loop, around the HTTP exchange itself.
    { step: 'deserialize', name: 'randomFaults' },
  );
  return injected;
}

describe.each(ADAPTERS)('stress on DynamoDB Local over %s', (adapter) => {
  const apps: SessionApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
  });

  it('two instances, outer timeouts and injected faults: no lock or lease left, every acknowledged write present', async () => {
    const random = prng(adapter === 'express' ? 11 : 12);
    const instances = await Promise.all(
      [1, 2].map(async () => {
        const store = new DynamoDBSessionStateStore({
          tableName,
          createIfNotExists: true,
          clientConfig: await localClientConfig(),
          requestTimeoutMs: 2000,
        });
        const app = await startSessionApp(adapter, { store, executionTimeout: 5 }, withOuterTimeout);
        apps.push(app);
        return { app, store, http: app.app.getHttpServer() };
      }),
    );
    const cookies = await Promise.all(
      [1, 2, 3, 4].map(async () => sessionCookie((await request(instances[0].http).post('/seed').expect(200)).headers)!),
    );
    const injected = instances.map((i) => injectRandomFaults(i.store.client, random));

    const sent = cookies.flatMap((cookie, s) => Array.from({ length: 12 }, (_, n) => ({ cookie, token: `s${s}-${n}`, outerTimeout: n % 4 === 3 })));
    const answers = await Promise.all(
      sent.map(async ({ cookie, token, outerTimeout }, i) => {
        const req = request(instances[i % 2].http)
          .post(`/append?token=${token}`)
          .set('Cookie', cookie);
        if (outerTimeout) req.set('x-timeout-ms', '150');
        return { token, cookie, status: (await req).status };
      }),
    );

    const statuses = answers.map((a) => a.status);
    expect(
      statuses.every((s) => [200, 408, 409, 503].includes(s)),
      statuses.join(','),
    ).toBe(true);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(sent.length / 2);
    const faults = injected.reduce((sum, i) => sum + i.throttled + i.slowed + i.answerLost, 0);
    expect(faults).toBeGreaterThan(0);

    // Lock calls answered after their request gave up still settle: wait until all is quiet.
    const reader = new DynamoDBSessionStateStore({ tableName, clientConfig: await localClientConfig() });
    await vi.waitFor(
      async () => {
        for (const cookie of cookies) expect(flat(await reader.getItem(idOf(cookie))).locked, 'a record left locked').toBe(false);
        for (const { app } of instances) expect(app.activeLeases(), 'a lease left active').toBe(0);
      },
      { timeout: 10_000, interval: 100 },
    );
    for (const { app } of instances) for (const cookie of cookies) expect(app.waiting(idOf(cookie))).toBe(0);

    for (const cookie of cookies) {
      const stored = flat(await reader.getItem(idOf(cookie)));
      const tokens: string[] = JSON.parse(stored.item!.items).tokens ?? [];
      const acknowledged = answers.filter((a) => a.cookie === cookie && a.status === 200).map((a) => a.token);
      for (const token of acknowledged) expect(tokens, `acknowledged write ${token} lost`).toContain(token);
      expect(new Set(tokens).size).toBe(tokens.length); // nothing applied twice
    }
    reader.destroy();
  });
});
