/**
 * The page's routes over HTTP, store round trips counted: serving the page costs nothing, and the
 * passport routes under /auth (@nestjs/passport on Express, @fastify/passport on Fastify) work
 * without putting a cost on the other routes (the browser test drives the page itself).
 */
import request from 'supertest';
import { sidOf } from './support/cookies.js';
import { startSampleApp, type AdapterName, type SampleApp } from './support/sample-app.js';

describe.each<AdapterName>(['express', 'fastify'])('the page on %s', (adapter) => {
  let sample: SampleApp;

  beforeAll(async () => {
    sample = await startSampleApp(adapter);
  });
  afterAll(async () => {
    await sample?.close();
  });

  it('GET / answers the page, naming the adapter, with no cookie and no store call', async () => {
    sample.counting.reset();
    const res = await request(sample.server).get('/').expect(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.text).toContain(`Running on <strong id="adapter">${adapter === 'fastify' ? 'Fastify' : 'Express'}</strong>`);
    expect(res.text).not.toContain('{{adapter}}');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(sample.counting.calls).toEqual([]);
  });

  it('GET /auth/me without a cookie: nobody, no session, no store call', async () => {
    sample.counting.reset();
    const res = await request(sample.server).get('/auth/me').expect(200);
    expect(res.body).toEqual({ user: null, session: false });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(sample.counting.calls).toEqual([]);
  });
});

describe.each<AdapterName>(['express', 'fastify'])('passport sign-in behind the /auth mount on %s', (adapter) => {
  let sample: SampleApp;

  beforeAll(async () => {
    sample = await startSampleApp(adapter);
  });
  afterAll(async () => {
    await sample?.close();
  });

  it('a wrong password goes back to the page with ?login=failed, and stores no session', async () => {
    sample.counting.reset();
    const res = await request(sample.server).post('/auth/login').type('form').send({ username: 'ada', password: 'nope' }).expect(303);
    expect(res.headers.location).toBe('/?login=failed');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(sample.counting.calls.filter((call) => call === 'setAndReleaseItemExclusive')).toEqual([]);
  });

  it('signs in (303 to /, a new id keeping the cart), who am I answers the user, and routes outside /auth pay no read for it', async () => {
    const cart = await request(sample.server).post('/cart/items').send({ sku: 'pen', qty: 2 }).expect(201);
    const before = sidOf(cart);
    const login = await request(sample.server)
      .post('/auth/login')
      .set('Cookie', `sid=${before}`)
      .type('form')
      .send({ username: 'alan', password: 'turing' })
      .expect(303);
    expect(login.headers.location).toBe('/');
    const after = sidOf(login);
    expect(after).not.toBe(before);
    const me = await request(sample.server).get('/auth/me').set('Cookie', `sid=${after}`).expect(200);
    expect(me.body).toEqual({ user: 'alan', session: true });
    expect((await request(sample.server).get('/cart').set('Cookie', `sid=${after}`).expect(200)).body).toEqual({ items: [{ sku: 'pen', qty: 2 }] });
    // The old id is gone (moved, not copied).
    expect((await request(sample.server).get('/cart').set('Cookie', `sid=${before}`).expect(200)).body).toEqual({ items: [] });

    // Outside /auth the mount does not run: /ping with the cookie makes no store call.
    sample.counting.reset();
    await request(sample.server).get('/ping').set('Cookie', `sid=${after}`).expect(200, 'pong');
    expect(sample.counting.calls).toEqual([]);

    const logout = await request(sample.server).post('/auth/logout').set('Cookie', `sid=${after}`).expect(303);
    expect(logout.headers.location).toBe('/');
    expect((await request(sample.server).get('/auth/me').set('Cookie', `sid=${after}`).expect(200)).body).toEqual({ user: null, session: false });
  });

  it('a session naming a user who no longer exists: /auth/me answers signed out at once, and logout still works', async () => {
    const login = await request(sample.server).post('/auth/login').type('form').send({ username: 'ada', password: 'lovelace' }).expect(303);
    const sid = sidOf(login);
    // The user is deleted: the stored session now names an id no user has (as each adapter's passport stores it).
    const acquired = await sample.counting.store.getItemExclusive(sid);
    if (acquired.kind !== 'acquired') throw new Error(`expected the stored session, got ${acquired.kind}`);
    const items = JSON.parse(acquired.item.items) as { passport: unknown };
    items.passport = adapter === 'fastify' ? 999 : { user: 999 };
    await sample.counting.store.setAndReleaseItemExclusive(sid, { ...acquired.item, items: JSON.stringify(items) }, acquired.lockId, false);

    const me = await request(sample.server).get('/auth/me').set('Cookie', `sid=${sid}`).timeout(5_000).expect(200);
    expect(me.body).toEqual({ user: null, session: true });
    await request(sample.server).post('/auth/logout').set('Cookie', `sid=${sid}`).timeout(5_000).expect(303);
    expect((await request(sample.server).get('/auth/me').set('Cookie', `sid=${sid}`).expect(200)).body).toEqual({ user: null, session: false });
  });
});
