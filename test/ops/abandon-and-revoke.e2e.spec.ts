import { randomBytes } from 'node:crypto';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { Logger } from '@nestjs/common';
import request from 'supertest';
import {
  InMemorySessionStateStore,
  SessionRevoker,
  SessionStateStore,
  SessionStateStoreMisconfiguredError,
  type SessionStateStoreData,
  type SessionStateAcquisition,
  type SessionStateRead,
} from '../../src/index.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { ADAPTERS, sessionCookie, sessionSetCookie } from '../support/test-app.js';
import { idOf } from '../e2e/session-app.js';
import { ADAPTERS_AND_STORES, createStore, startOpsApp, waitingFor, type OpsApp, prepareTable } from './ops-app.js';
import { flat } from '../../src/testing/flat-store-answer.js';

const tableName = uniqueTableName('ops-revoke');
beforeAll(() => prepareTable(tableName));
afterAll(() => deleteTable(tableName));

/** An owner no other test (or test file on the shared table) uses. */
const newOwner = (name: string) => `${name}-${randomBytes(6).toString('hex')}`;

describe.each(ADAPTERS_AND_STORES)('abandon, owner and sign-out everywhere over %s on %s', (adapter, kind) => {
  let t: OpsApp;
  beforeEach(async () => {
    t = await startOpsApp(adapter, await createStore(kind, tableName));
  });
  afterEach(() => t.close());

  const login = async (owner: string, cookie?: string) => {
    const req = request(t.http).post(`/login?owner=${owner}`);
    const res = await (cookie ? req.set('Cookie', cookie) : req).expect(200);
    return sessionCookie(res.headers)!;
  };
  const whoami = async (cookie: string) => (await request(t.http).get('/whoami').set('Cookie', cookie).expect(200)).body;

  it('abandon() of a session the request itself created sends no Set-Cookie; with a session cookie it clears it', async () => {
    const fresh = await request(t.http).post('/abandon').expect(200, { abandoned: true });
    expect(fresh.headers['set-cookie']).toBeUndefined();

    const cookie = sessionCookie((await request(t.http).post('/seed').expect(200)).headers)!;
    const abandoned = await request(t.http).post('/abandon').set('Cookie', cookie).expect(200);
    expect(sessionSetCookie(abandoned.headers)).toMatch(/^sid=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT/);
    expect(flat(await t.store.getItem(idOf(cookie))).item).toBeNull();
  });

  it('a logout whose session was revoked while it ran answers as a logout (200, the cookie cleared), not 409: the session is ended either way', async () => {
    const owner = newOwner('ann');
    const cookie = await login(owner);
    const logout = request(t.http)
      .post('/abandon?gate=hold')
      .set('Cookie', cookie)
      .then((r) => r);
    await t.gates.arrived('hold');
    expect(await t.store.revokeItem!(idOf(cookie), owner)).toBe(true);
    t.gates.open('hold');
    const answer = await logout;
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { abandoned: true } });
    expect(sessionSetCookie(answer.headers)).toMatch(/^sid=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT/);
    expect((await t.store.getItem(idOf(cookie))).kind).toBe('absent');
  });

  it('abandon() raises the session-end event once per session where the store reports it, never for a session moved by regenerateId()', async () => {
    const ended: string[] = [];
    const reported = t.store.setItemExpireCallback((id) => ended.push(id));
    // In memory: expiry, abandon and revocation are reported; DynamoDB reports none (docs/STORES.md: "Session-end events").
    expect(reported).toBe(kind === 'memory');

    const before = sessionCookie((await request(t.http).post('/seed').expect(200)).headers)!;
    const moved = sessionCookie((await request(t.http).post('/regenerate').set('Cookie', before).expect(200)).headers)!;
    expect(moved).not.toBe(before);
    expect(ended).toEqual([]);
    await request(t.http).post('/abandon').set('Cookie', moved).expect(200);
    expect(ended).toEqual(kind === 'memory' ? [idOf(moved)] : []);
    // The cookie now names no session: abandoning "it" again ends nothing more.
    await request(t.http).post('/abandon').set('Cookie', moved).expect(200);
    expect(ended).toEqual(kind === 'memory' ? [idOf(moved)] : []);
  });

  it('session.owner is stored with the session; setting only the owner is saved; undefined clears it', async () => {
    const ann = newOwner('ann');
    const cookie = await login(ann);
    expect(await whoami(cookie)).toEqual({ owner: ann, user: ann });
    const bob = newOwner('bob');
    await request(t.http).post(`/owner?owner=${bob}`).set('Cookie', cookie).expect(200, { owner: bob });
    expect(await whoami(cookie)).toEqual({ owner: bob, user: ann });
    await request(t.http).post('/owner').set('Cookie', cookie).expect(200, { owner: null });
    expect(await whoami(cookie)).toEqual({ owner: null, user: ann });
  });

  it("revokeOwner removes every session of the owner and answers how many; their next requests get new, empty sessions; others' are kept", async () => {
    const ann = newOwner('ann');
    const bob = newOwner('bob');
    const anns = [await login(ann), await login(ann), await login(ann)];
    const bobs = await login(bob);
    await request(t.http).post(`/revoke/${ann}`).expect(200, { revoked: 3 });
    for (const cookie of anns) expect(await whoami(cookie)).toEqual({ owner: null, user: null });
    const next = await request(t.http).post('/count').set('Cookie', anns[0]).expect(200, { count: 1 });
    expect(sessionCookie(next.headers)).not.toBe(anns[0]);
    expect(await whoami(bobs)).toEqual({ owner: bob, user: bob });
    expect(await t.app.get(SessionRevoker).revokeOwner(ann)).toBe(0);
  });

  it("a session locked by a request while it is revoked: the request's save is fenced out (409), nothing comes back, the next request gets a new session", async () => {
    const ann = newOwner('ann');
    const cookie = await login(ann);
    const held = request(t.http)
      .post('/count?gate=held')
      .set('Cookie', cookie)
      .then((r) => r);
    await t.gates.arrived('held');
    expect(await t.app.get(SessionRevoker).revokeOwner(ann)).toBe(1);
    t.gates.open('held');
    expect((await held).status).toBe(409);
    expect(flat(await t.store.getItem(idOf(cookie))).item).toBeNull();
    expect(await whoami(cookie)).toEqual({ owner: null, user: null });
  });

  it('the same with a request of this instance queued behind it (the save would hand the lock over): still 409, and the queued one too', async () => {
    const ann = newOwner('ann');
    const cookie = await login(ann);
    const held = request(t.http)
      .post('/count?gate=held')
      .set('Cookie', cookie)
      .then((r) => r);
    await t.gates.arrived('held');
    const queued = request(t.http)
      .post('/count')
      .set('Cookie', cookie)
      .then((r) => r);
    await vi.waitFor(() => expect(waitingFor(t.app, idOf(cookie))).toBe(1));
    expect(await t.app.get(SessionRevoker).revokeOwner(ann)).toBe(1);
    t.gates.open('held');
    // Neither change was saved: neither may answer 2xx. The queued one finds the session ended while it waited.
    expect([(await held).status, (await queued).status]).toEqual([409, 409]);
    expect(flat(await t.store.getItem(idOf(cookie))).item).toBeNull();
    expect(await whoami(cookie)).toEqual({ owner: null, user: null });
  });

  it('a sign-in (regenerateId) under way while its session is revoked brings back neither the old id nor the new one', async () => {
    const ann = newOwner('ann');
    const cookie = await login(ann);
    const relogin = request(t.http)
      .post(`/login?owner=${ann}&gate=relogin`)
      .set('Cookie', cookie)
      .then((r) => r);
    await t.gates.arrived('relogin');
    expect(await t.app.get(SessionRevoker).revokeOwner(ann)).toBe(1);
    t.gates.open('relogin');
    const res = await relogin;
    expect(res.status).toBe(409);
    expect(flat(await t.store.getItem(idOf(cookie))).item).toBeNull();
    const moved = sessionCookie(res.headers);
    if (moved && moved !== 'sid=') expect(flat(await t.store.getItem(idOf(moved))).item).toBeNull();
    expect(await t.app.get(SessionRevoker).revokeOwner(ann)).toBe(0);
  });

  it('revokeOwner refuses an empty or non-string owner with a clear error', async () => {
    const revoker = t.app.get(SessionRevoker);
    await expect(revoker.revokeOwner('')).rejects.toThrow(/non-empty, well-formed string/);
    await expect(revoker.revokeOwner(42 as unknown as string)).rejects.toThrow(/non-empty, well-formed string/);
  });
});

/** A store written before `revokeOwner` existed: the six abstract contract methods, nothing else. */
class LegacyStore extends SessionStateStore {
  private readonly inner = new InMemorySessionStateStore();
  getItem(id: string): Promise<SessionStateRead> {
    return this.inner.getItem(id);
  }
  getItemExclusive(id: string): Promise<SessionStateAcquisition> {
    return this.inner.getItemExclusive(id);
  }
  setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    return this.inner.setAndReleaseItemExclusive(id, item, lockId, newItem);
  }
  releaseItemExclusive(id: string, lockId: string): Promise<boolean> {
    return this.inner.releaseItemExclusive(id, lockId);
  }
  removeItem(id: string, lockId: string): Promise<void> {
    return this.inner.removeItem(id, lockId);
  }
  resetItemTimeout(id: string): Promise<void> {
    return this.inner.resetItemTimeout(id);
  }
}

describe.each(ADAPTERS)('a custom store without revokeOwner over %s', (adapter) => {
  it('revokeOwner throws a clear error; sessions, owners included, work as before', async () => {
    const t = await startOpsApp(adapter, new LegacyStore());
    const error = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {});
    try {
      const cookie = sessionCookie((await request(t.http).post('/login?owner=ann').expect(200)).headers)!;
      await request(t.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
      await request(t.http).get('/whoami').set('Cookie', cookie).expect(200, { owner: 'ann', user: 'ann' });
      await expect(t.app.get(SessionRevoker).revokeOwner('ann')).rejects.toThrow(/LegacyStore does not implement revokeOwner/);
      await request(t.http).post('/count').set('Cookie', cookie).expect(200, { count: 2 });
    } finally {
      error.mockRestore();
      await t.close();
    }
  });
});

describe.each(ADAPTERS)('sign-out everywhere on DynamoDB over %s', (adapter) => {
  const apps: OpsApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  const instance = async (options = {}) => {
    const app = await startOpsApp(adapter, await createStore('dynamodb', tableName, options));
    apps.push(app);
    return app;
  };

  it("two instances on one table: revoke on one, the other's next requests get none of that owner's sessions", async () => {
    const a = await instance();
    const b = await instance();
    const ann = newOwner('ann');
    const cookies = [
      sessionCookie((await request(a.http).post(`/login?owner=${ann}`).expect(200)).headers)!,
      sessionCookie((await request(b.http).post(`/login?owner=${ann}`).expect(200)).headers)!,
    ];
    for (const cookie of cookies) await request(b.http).get('/whoami').set('Cookie', cookie).expect(200, { owner: ann, user: ann });
    await request(a.http).post(`/revoke/${ann}`).expect(200, { revoked: 2 });
    for (const cookie of cookies) await request(b.http).get('/whoami').set('Cookie', cookie).expect(200, { owner: null, user: null });
  });

  it('the index is sparse: Owner is a top-level string attribute only on sessions that have an owner', async () => {
    const a = await instance();
    const raw = new DynamoDBClient(await localClientConfig());
    const ownerOf = async (cookie: string) =>
      (await raw.send(new GetItemCommand({ TableName: tableName, Key: { SessionId: { S: idOf(cookie) } } }))).Item?.Owner;
    try {
      const anonymous = sessionCookie((await request(a.http).post('/seed').expect(200)).headers)!;
      expect(await ownerOf(anonymous)).toBeUndefined();
      const ann = newOwner('ann');
      const owned = sessionCookie((await request(a.http).post(`/login?owner=${ann}`).expect(200)).headers)!;
      expect(await ownerOf(owned)).toEqual({ S: ann });
      await request(a.http).post('/owner').set('Cookie', owned).expect(200);
      expect(await ownerOf(owned)).toBeUndefined();
    } finally {
      raw.destroy();
    }
  });

  it('applications sharing a table revoke only their own sessions', async () => {
    const shop = await instance({ application: 'shop' });
    const blog = await instance({ application: 'blog' });
    const ann = newOwner('ann');
    const shopCookie = sessionCookie((await request(shop.http).post(`/login?owner=${ann}`).expect(200)).headers)!;
    const blogCookie = sessionCookie((await request(blog.http).post(`/login?owner=${ann}`).expect(200)).headers)!;
    await request(shop.http).post(`/revoke/${ann}`).expect(200, { revoked: 1 });
    await request(shop.http).get('/whoami').set('Cookie', shopCookie).expect(200, { owner: null, user: null });
    await request(blog.http).get('/whoami').set('Cookie', blogCookie).expect(200, { owner: ann, user: ann });
  });

  it('a table without the Owner-index: startup says how to add it, sessions work, revokeOwner fails with the UpdateTable fix', async () => {
    const bare = uniqueTableName('ops-no-index');
    const raw = new DynamoDBClient(await localClientConfig());
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
    const error = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {});
    try {
      await raw.send(
        new CreateTableCommand({
          TableName: bare,
          AttributeDefinitions: [{ AttributeName: 'SessionId', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'SessionId', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      const store = new DynamoDBSessionStateStore({ tableName: bare, clientConfig: await localClientConfig() });
      const t = await startOpsApp(adapter, store);
      apps.push(t);
      expect(warn.mock.calls.map(([m]) => String(m)).join('\n')).toMatch(/no "Owner-index" index: .*aws dynamodb update-table --table-name/);
      const cookie = sessionCookie((await request(t.http).post('/login?owner=ann').expect(200)).headers)!;
      await request(t.http).get('/whoami').set('Cookie', cookie).expect(200, { owner: 'ann', user: 'ann' });
      const refused = t.app.get(SessionRevoker).revokeOwner('ann');
      await expect(refused).rejects.toBeInstanceOf(SessionStateStoreMisconfiguredError);
      await expect(refused).rejects.toThrow(/--global-secondary-index-updates .*"IndexName":"Owner-index"/);
      // createIfNotExists adds the index to an existing table that lacks it; revoking then works.
      // (The adapter plays no part here, and DynamoDB Local takes seconds to build an index: once.)
      if (adapter !== 'express') return;
      const fixer = new DynamoDBSessionStateStore({ tableName: bare, createIfNotExists: true, clientConfig: await localClientConfig() });
      await fixer.init();
      fixer.destroy();
      await vi.waitFor(
        async () => {
          const { Table } = await raw.send(new DescribeTableCommand({ TableName: bare }));
          expect(Table?.GlobalSecondaryIndexes?.map((index) => [index.IndexName, index.IndexStatus])).toEqual([['Owner-index', 'ACTIVE']]);
          // DynamoDB Local builds the index in the background too (seconds on a busy machine).
        },
        { timeout: 20_000, interval: 100 },
      );
      expect(await t.app.get(SessionRevoker).revokeOwner('ann')).toBe(1);
      await request(t.http).get('/whoami').set('Cookie', cookie).expect(200, { owner: null, user: null });
    } finally {
      warn.mockRestore();
      error.mockRestore();
      raw.destroy();
      await deleteTable(bare);
    }
  });
});
