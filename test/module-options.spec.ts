import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Controller, Get, Injectable, Logger, Module, Session as NestSession } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  HttpSessionState,
  InMemorySessionStateStore,
  Session,
  SessionStateModule,
  mountSessionState,
  type SessionStateModuleOptions,
} from '../src/index.js';
import { resolveSessionStateOptions } from '../src/module/session-state.options.js';
import { optionsError } from './support/options-error.js';
import { ADAPTERS, createTestApp, type AdapterName } from './support/test-app.js';

describe('options checked at startup', () => {
  it('refuses unknown keys, naming the key and the nearest valid one, nested ones included', () => {
    expect(optionsError({ cookieName: 'x' })).toContain('cookieName is not an option (did you mean cookie?)');
    expect(optionsError({ timout: 5 })).toContain('timout is not an option (did you mean timeout?)');
    expect(optionsError({ cookie: { maxage: 1000 } })).toContain('cookie.maxage is not an option (did you mean cookie.maxAge?)');
    expect(optionsError({ lockWait: { maxQueue: 5 } })).toContain('lockWait.maxQueue is not an option (did you mean lockWait.maxQueueLength?)');
    expect(optionsError({ saveOnErrors: false })).toContain('did you mean saveOnError?');
    // Far from every key: no suggestion.
    expect(optionsError({ zzzzzzzzzzzz: 1 })).toMatch(/zzzzzzzzzzzz is not an option$/m);
  });

  it.each([
    ['shop_eu.example.com', 'an underscore'],
    ['example.com:8080', 'a port'],
    ['https://example.com', 'a scheme'],
    ['example.com/path', 'a path'],
    ['', 'empty'],
  ])('refuses cookie.domain %j (%s)', (domain) => {
    expect(optionsError({ cookie: { domain } })).toContain(`cookie.domain must be a host name such as 'example.com'`);
  });

  it('accepts host names, a leading dot included', () => {
    for (const domain of ['example.com', 'shop-eu.example.com', '.example.com', 'localhost']) {
      expect(resolveSessionStateOptions({ cookie: { domain } }).cookie.domain).toBe(domain);
    }
  });

  it.each(['app', '/a;b', '/a\nb'])('refuses cookie.path %j', (path) => {
    expect(optionsError({ cookie: { path } })).toContain("cookie.path must start with '/'");
  });

  it('refuses partitioned without secure, and sameSite none without secure', () => {
    expect(optionsError({ cookie: { partitioned: true, secure: false } })).toContain('cookie.partitioned needs cookie.secure');
    expect(resolveSessionStateOptions({ cookie: { partitioned: true } }).cookie.partitioned).toBe(true);
    expect(optionsError({ cookie: { partitioned: 'yes' } })).toContain('cookie.partitioned must be true or false');
  });

  it("refuses a __Secure- or __Host- cookie name without secure: true ('auto' omits Secure over plain HTTP), and a __Host- one with a path or domain", () => {
    for (const name of ['__Secure-sid', '__Host-sid', '__secure-sid', '__HOST-sid']) {
      expect(optionsError({ cookie: { name } })).toContain(`cookie.name "${name}" needs cookie.secure: true`);
      expect(optionsError({ cookie: { name, secure: false } })).toContain(`cookie.name "${name}" needs cookie.secure: true`);
      expect(resolveSessionStateOptions({ cookie: { name, secure: true } }).cookie.name).toBe(name);
    }
    expect(optionsError({ cookie: { name: '__Host-sid', secure: true, path: '/app' } })).toContain("needs cookie.path '/' and no cookie.domain");
    expect(optionsError({ cookie: { name: '__Host-sid', secure: true, domain: 'example.com' } })).toContain(
      "needs cookie.path '/' and no cookie.domain",
    );
    expect(resolveSessionStateOptions({ cookie: { name: '__Secure-sid', secure: true, path: '/app', domain: 'example.com' } }).cookie.path).toBe(
      '/app',
    );
    expect(resolveSessionStateOptions({ cookie: { name: '__Hosted-sid' } }).cookie.secure).toBe('auto');
  });

  it('refuses a cookie.maxAge that would outlive the session timeout, or is not whole milliseconds ≥ 1000', () => {
    expect(optionsError({ timeout: 20, cookie: { maxAge: 20 * 60_000 + 1 } })).toContain(
      'cookie.maxAge (1200001 ms) must not exceed timeout (20 min = 1200000 ms)',
    );
    expect(resolveSessionStateOptions({ timeout: 20, cookie: { maxAge: 20 * 60_000 } }).cookie.maxAge).toBe(1_200_000);
    expect(optionsError({ cookie: { maxAge: 500 } })).toContain('cookie.maxAge must be a whole number of milliseconds ≥ 1000');
    expect(optionsError({ cookie: { maxAge: '1h' } })).toContain('cookie.maxAge must be');
  });

  it('refuses a saveOnError that is not false, client-errors or a function', () => {
    expect(optionsError({ saveOnError: true })).toContain("saveOnError must be false, 'client-errors' or a function");
    expect(optionsError({ saveOnError: 'all' })).toContain('saveOnError must be');
    expect(resolveSessionStateOptions({}).saveOnError).toBe(false);
  });

  // Node fires a timer set beyond 2^31-1 ms after 1 ms (TimeoutOverflowWarning): a lock would turn
  // stale at once, shutdown would drop in-flight changes, waiters would poll without pause.
  it.each([0, -1, 1.5, '3', Number.NaN, null])('refuses maxSessionsPerOwner %j (a whole number ≥ 1)', (max) => {
    expect(optionsError({ maxSessionsPerOwner: max })).toContain('maxSessionsPerOwner must be a whole number ≥ 1');
  });

  it('refuses an ownerCapPolicy that is not revoke-oldest or refuse, or one without maxSessionsPerOwner', () => {
    expect(optionsError({ maxSessionsPerOwner: 2, ownerCapPolicy: 'oldest' })).toContain("ownerCapPolicy must be 'revoke-oldest' or 'refuse'");
    expect(optionsError({ ownerCapPolicy: 'refuse' })).toContain('ownerCapPolicy needs maxSessionsPerOwner');
    expect(optionsError({ maxSessionPerOwner: 2 })).toContain('did you mean maxSessionsPerOwner?');
  });

  it('refuses maxSessionsPerOwner on a store that cannot claim a place (a store written before the cap)', () => {
    const store = new InMemorySessionStateStore();
    Object.defineProperty(store, 'claimOwnerSlot', { value: undefined });
    expect(optionsError({ store, maxSessionsPerOwner: 2 })).toContain('maxSessionsPerOwner needs a store that implements claimOwnerSlot');
  });

  it('resolves the cap: revoke-oldest by default, none without maxSessionsPerOwner', () => {
    expect(resolveSessionStateOptions({ maxSessionsPerOwner: 3 }).ownerCap).toEqual({ max: 3, policy: 'revoke-oldest' });
    expect(resolveSessionStateOptions({ maxSessionsPerOwner: 1, ownerCapPolicy: 'refuse' }).ownerCap).toEqual({ max: 1, policy: 'refuse' });
    expect(resolveSessionStateOptions({}).ownerCap).toBeNull();
  });

  it('shutdownTimeout: 25 s by default, 0 allowed, never past executionTimeout; a negative, non-number or untimeable one refused', () => {
    expect(resolveSessionStateOptions({}).shutdownTimeoutMs).toBe(25_000);
    expect(resolveSessionStateOptions({ shutdownTimeout: 0 }).shutdownTimeoutMs).toBe(0);
    expect(resolveSessionStateOptions({ shutdownTimeout: 60, executionTimeout: 5 }).shutdownTimeoutMs).toBe(5_000);
    expect(resolveSessionStateOptions({ shutdownTimeout: 100, executionTimeout: 200 }).shutdownTimeoutMs).toBe(100_000);
    const bound = /shutdownTimeout must be a number of seconds from 0 to 2147483\.647/;
    for (const wrong of [-1, Number.NaN, Number.POSITIVE_INFINITY, '10', null])
      expect(optionsError({ shutdownTimeout: wrong as never })).toMatch(bound);
  });

  it('refuses an executionTimeout or a lockWait poll delay beyond what a timer can wait, naming the option and the bound', () => {
    const bound = /executionTimeout must be a positive number of seconds, at most 2147483\.647 \(2\^31-1 ms, about 24\.8 days\)/;
    expect(optionsError({ executionTimeout: 30 * 24 * 3600 })).toMatch(bound);
    expect(optionsError({ executionTimeout: Number.POSITIVE_INFINITY })).toMatch(bound);
    expect(optionsError({ executionTimeout: Number.NaN })).toMatch(bound);
    expect(resolveSessionStateOptions({ executionTimeout: 2_147_483.647 }).executionTimeoutMs).toBe(2 ** 31 - 1);
    expect(optionsError({ lockWait: { pollMaxMs: 2 ** 31 } })).toContain(
      'lockWait.pollMaxMs must be a whole number of milliseconds from lockWait.pollMinMs to 2147483647',
    );
    expect(optionsError({ lockWait: { pollMinMs: 2 ** 31, pollMaxMs: 2 ** 32 } })).toContain(
      'lockWait.pollMinMs must be a whole number of milliseconds from 1 to 2147483647',
    );
    expect(resolveSessionStateOptions({ lockWait: { pollMinMs: 2 ** 31 - 1, pollMaxMs: 2 ** 31 - 1 } }).lockWait.pollMaxMs).toBe(2 ** 31 - 1);
  });

  it.each(ADAPTERS)('an executionTimeout of 30 days stops the application at startup on %s, through forRoot and forRootAsync', async (adapter) => {
    const thirtyDays = 30 * 24 * 3600;
    await expect(
      createTestApp(adapter, { imports: [SessionStateModule.forRoot({ executionTimeout: thirtyDays })], controllers: [WhoController] }),
    ).rejects.toThrow(/executionTimeout must be a positive number of seconds, at most 2147483\.647/);
    await expect(
      createTestApp(adapter, {
        imports: [SessionStateModule.forRootAsync({ useFactory: () => ({ executionTimeout: thirtyDays }) })],
        controllers: [WhoController],
      }),
    ).rejects.toThrow(/executionTimeout must be a positive number of seconds, at most 2147483\.647/);
  });

  it('idHeader: a header name, stored lower-case (as Node keys request headers); others refused at startup', () => {
    expect(resolveSessionStateOptions({}).idHeader).toBeUndefined();
    expect(resolveSessionStateOptions({ idHeader: 'X-Session-Id' }).idHeader).toBe('x-session-id');
    for (const bad of ['', 'x session', 'x-session-id:', 'sid\r\nx-evil: 1', 42]) {
      expect(optionsError({ idHeader: bad })).toContain('idHeader must be an HTTP header name');
    }
    expect(optionsError({ idHeader: 'Cookie' })).toContain("idHeader must not be 'cookie'");
    expect(optionsError({ idHeader: 'set-cookie' })).toContain("idHeader must not be 'set-cookie'");
    // Headers a browser or a proxy sends by itself: every browser request would carry one (found by review R3).
    for (const ambient of ['Accept', 'accept-language', 'User-Agent', 'origin', 'referer', 'sec-fetch-site', 'authorization', 'x-forwarded-for']) {
      expect(optionsError({ idHeader: ambient })).toContain(
        `idHeader must not be '${ambient.toLowerCase()}': browsers or proxies send it by themselves`,
      );
    }
    expect(resolveSessionStateOptions({ idHeader: 'x-accept-session' }).idHeader).toBe('x-accept-session');
    expect(optionsError({ idheader: 'x-session-id' })).toContain('did you mean idHeader?');
  });

  it.each(ADAPTERS)('an invalid idHeader stops the application at startup on %s, through forRoot and forRootAsync', async (adapter) => {
    await expect(createTestApp(adapter, { imports: [SessionStateModule.forRoot({ idHeader: 'x session' })] })).rejects.toThrow(/idHeader must be/);
    await expect(
      createTestApp(adapter, { imports: [SessionStateModule.forRootAsync({ useFactory: () => ({ idHeader: 'host' }) })] }),
    ).rejects.toThrow(/idHeader must not be 'host'/);
  });

  it.each([0, -5, 1.5, '60', 525_601, Number.NaN, null])('refuses absoluteTimeout %j (whole minutes from 1 to a year)', (absoluteTimeout) => {
    expect(optionsError({ absoluteTimeout })).toContain('absoluteTimeout must be a whole number of minutes from 1 to 525600');
  });

  it('takes absoluteTimeout in minutes (none by default) and recordClient as a boolean (off by default)', () => {
    expect(resolveSessionStateOptions({}).absoluteTimeoutMs).toBeNull();
    expect(resolveSessionStateOptions({ absoluteTimeout: 480 }).absoluteTimeoutMs).toBe(480 * 60_000);
    expect(resolveSessionStateOptions({}).recordClient).toBe(false);
    expect(optionsError({ recordClient: 'yes' })).toContain('recordClient must be true or false');
  });

  it.each(ADAPTERS)('an invalid absoluteTimeout stops the application at startup on %s, through forRoot and forRootAsync', async (adapter) => {
    await expect(
      createTestApp(adapter, { imports: [SessionStateModule.forRoot({ absoluteTimeout: 0 })], controllers: [WhoController] }),
    ).rejects.toThrow(/absoluteTimeout must be a whole number of minutes/);
    await expect(
      createTestApp(adapter, {
        imports: [SessionStateModule.forRootAsync({ useFactory: () => ({ absoluteTimeout: 1.5, recordClient: 1 as never }) })],
        controllers: [WhoController],
      }),
    ).rejects.toThrow(/absoluteTimeout must be a whole number of minutes[\s\S]*recordClient must be true or false/);
  });

  it.each(ADAPTERS)('an invalid cookie.domain stops the application at startup on %s (not a 500 per new session)', async (adapter) => {
    await expect(createTestApp(adapter, { imports: [SessionStateModule.forRoot({ cookie: { domain: 'shop_eu.example.com' } })] })).rejects.toThrow(
      /cookie\.domain must be a host name/,
    );
  });
});

@Injectable()
class ConventionalOptions {
  createSessionStateOptions(): SessionStateModuleOptions {
    return { cookie: { name: 'conventional' } };
  }
}

@Injectable()
class LegacyOptions {
  create(): SessionStateModuleOptions {
    return { cookie: { name: 'legacy' } };
  }
}

@Controller()
class WhoController {
  @Get('who')
  who(@Session() s: HttpSessionState) {
    s.set('seen', true);
    return 'ok';
  }
}

@Controller('nest')
class NestSessionController {
  @Get()
  wrong(@NestSession() session: unknown) {
    return String(session);
  }
}

@Module({ providers: [ConventionalOptions], exports: [ConventionalOptions] })
class OptionsModule {}

describe('forRoot', () => {
  it('takes no argument: every default', async () => {
    const app = await createTestApp('express', { imports: [SessionStateModule.forRoot()], controllers: [WhoController] });
    try {
      const res = await request(app.getHttpServer()).get('/who').expect(200);
      expect(String(res.headers['set-cookie'])).toMatch(/^sid=[A-Za-z0-9_-]{32}; Path=\/; HttpOnly; SameSite=Lax$/);
    } finally {
      await app.close();
    }
  });
});

describe('forRootAsync with an options class', () => {
  const optionsClasses: [string, AdapterName, Parameters<typeof SessionStateModule.forRootAsync>[0]][] = [
    ...ADAPTERS.map((adapter): [string, AdapterName, { useClass: typeof ConventionalOptions }] => [
      'useClass',
      adapter,
      { useClass: ConventionalOptions },
    ]),
    ['useExisting', 'express', { imports: [OptionsModule], useExisting: ConventionalOptions }],
  ];
  it.each(optionsClasses)('calls createSessionStateOptions() of %s on %s', async (_kind, adapter, options) => {
    const app = await createTestApp(adapter, { imports: [SessionStateModule.forRootAsync(options)], controllers: [WhoController] });
    try {
      const res = await request(app.getHttpServer()).get('/who').expect(200);
      expect(String(res.headers['set-cookie'])).toMatch(/^conventional=/);
    } finally {
      await app.close();
    }
  });

  it('refuses maxSessionsPerOwner from a factory at startup, as forRoot does', async () => {
    await expect(
      createTestApp('express', {
        imports: [SessionStateModule.forRootAsync({ useFactory: () => ({ maxSessionsPerOwner: 0 }) })],
        controllers: [WhoController],
      }),
    ).rejects.toThrow('maxSessionsPerOwner must be a whole number ≥ 1');
  });

  it('refuses a class with only create() (the old name) at startup, saying what to rename', async () => {
    await expect(
      createTestApp('express', {
        imports: [SessionStateModule.forRootAsync({ useClass: LegacyOptions as never })],
        controllers: [WhoController],
      }),
    ).rejects.toThrow(
      'LegacyOptions has no createSessionStateOptions() method (it has create(): rename it createSessionStateOptions(), the Nest convention)',
    );
  });
});

describe("a handler using @nestjs/common's @Session()", () => {
  afterEach(() => vi.restoreAllMocks());

  it.each(ADAPTERS)('is warned about once at startup on %s, by name', async (adapter) => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
    const app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({})],
      controllers: [WhoController, NestSessionController],
    });
    await app.close();
    const warnings = warn.mock.calls.map((c) => String(c[0])).filter((m) => m.includes('@nestjs/common'));
    expect(warnings).toEqual([
      "NestSessionController.wrong uses @Session() from @nestjs/common, which is express-session's req.session " +
        "(undefined with this module): import { Session } from 'nestjs-session-state' instead " +
        '(or, for passport and other express-session code, mount req.session: await mountSessionState(app), see docs/PASSPORT.md).',
    ]);
  });

  it.each(ADAPTERS)('is not warned about on %s once req.session is mounted (it then gets this module’s session)', async (adapter) => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
    const moduleRef = await Test.createTestingModule({
      imports: [SessionStateModule.forRoot({})],
      controllers: [WhoController, NestSessionController],
    }).compile();
    const app =
      adapter === 'express'
        ? moduleRef.createNestApplication({ logger: false })
        : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    await mountSessionState(app);
    await app.init();
    await app.close();
    expect(warn.mock.calls.filter((c) => String(c[0]).includes('@nestjs/common'))).toEqual([]);
  });

  it('is not warned about when every handler uses this module’s @Session()', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
    const moduleRef = await Test.createTestingModule({ imports: [SessionStateModule.forRoot({})], controllers: [WhoController] }).compile();
    await moduleRef.init();
    await moduleRef.close();
    expect(warn.mock.calls.filter((c) => String(c[0]).includes('@nestjs/common'))).toEqual([]);
  });
});
