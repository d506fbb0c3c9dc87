/**
 * Sign-out-everywhere in one application leaves another application's sessions of
 * the same owner on the same Redis untouched (another `application`, and the default prefix beside it).
 */
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
const stores: RedisSessionStateStore[] = [];
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await server?.stop();
});

it('revokeOwner of application "shop" ends only shop\'s sessions of that owner', async () => {
  const make = async (application?: string) => {
    const s = new RedisSessionStateStore({ url: server.url, application });
    await s.init();
    stores.push(s);
    return s;
  };
  const [shop, blog, plain] = [await make('shop'), await make('blog'), await make()];
  const id = 'same-id-in-every-app-aaaaaaaaaaaa';
  for (const s of [shop, blog, plain]) await s.setAndReleaseItemExclusive(id, { items: '{"a":1}', timeout: 20, owner: '7' }, null, true);
  expect(await shop.revokeOwner('7')).toBe(1);
  expect([(await shop.getItem(id)).kind, (await blog.getItem(id)).kind, (await plain.getItem(id)).kind]).toEqual(['absent', 'loaded', 'loaded']);
  expect(await plain.revokeOwner('7')).toBe(1);
  expect((await blog.getItem(id)).kind).toBe('loaded');
});
