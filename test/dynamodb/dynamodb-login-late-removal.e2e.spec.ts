/**
 * On DynamoDB Local behind a holding proxy (a slow network): a login's removal of the old id times out
 * at the client but is still in flight. The lifecycle releases the old lock to settle it: the late
 * removal (conditional on that lock) then cannot land, and the move is undone; or it landed first, the
 * release is refused, and the login completes. Either way the session survives under the one id the
 * client holds. (Review R10: the move was undone on a read alone, and the late removal then took the
 * old record too.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { startHoldingProxy, type HoldingProxy } from '../support/dynamodb-holding-proxy.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { idOf, sessionApps } from '../e2e/session-app.js';

const clientConfig = await localClientConfig();
const tableName = uniqueTableName('login-late-removal');
let proxy: HoldingProxy;
/** The old id whose removal is held until its release comes; then the removal goes first. */
let target: string | undefined;
let removalHeld = false;
let removalLanded: () => void = () => undefined;

beforeAll(async () => {
  await new DynamoDBSessionStateStore({ clientConfig: { ...clientConfig }, tableName, createIfNotExists: true }).init();
  let forwardRemoval: () => void = () => undefined;
  proxy = await startHoldingProxy(clientConfig.endpoint as string, (operation, body) => {
    if (target === undefined || operation !== 'UpdateItem' || !body.includes(target)) return undefined;
    if (!removalHeld && body.includes('#expires = :zero')) {
      removalHeld = true;
      const release = new Promise<void>((resolve) => (forwardRemoval = resolve));
      return { request: release, answered: () => removalLanded() };
    }
    if (removalHeld) {
      // The next write of the old id (the failed completion's release): the late removal lands first.
      target = undefined;
      const landed = new Promise<void>((resolve) => (removalLanded = resolve));
      forwardRemoval();
      return { request: landed };
    }
    return undefined;
  });
});
afterAll(async () => {
  await proxy?.close();
  await deleteTable(tableName);
});

describe.each(ADAPTERS)('a login whose removal of the old id lands late, over %s', (adapter) => {
  const { start, seeded } = sessionApps();

  it('the session survives under one of its ids', async () => {
    const store = new DynamoDBSessionStateStore({
      clientConfig: { ...clientConfig, endpoint: proxy.endpoint },
      tableName,
      // Long enough for every other call on a loaded machine: only the held removal times out.
      requestTimeoutMs: 1_000,
      maxAttempts: 1,
    });
    const a = await start(adapter, { store });
    const http = a.app.getHttpServer();
    const cookie = await seeded(a);
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    removalHeld = false;
    target = idOf(cookie);
    const login = await request(http).post('/regenerate').set('Cookie', cookie);
    expect(removalHeld).toBe(true);
    const newCookie = sessionCookie(login.headers);
    const after = await request(http)
      .post('/count')
      .set('Cookie', newCookie ?? cookie);
    // The client's cookie still names the session (the next increment answers 2): a login that completed
    // (200) sent the new id, one undone (503) sent none.
    expect({ next: after.body.count, newCookie: newCookie !== undefined }).toEqual({ next: 2, newCookie: login.status === 200 });
    expect([200, 503]).toContain(login.status);
  });
});
