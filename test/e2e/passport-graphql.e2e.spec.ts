/**
 * Signing in from a GraphQL mutation with passport, under `mountSessionState(app)`: NestJS's GraphQL
 * auth pattern (a guard that hands passport the resolver's request, docs.nestjs.com "GraphQL" under
 * Authentication) with @nestjs/passport on Apollo (Express), @fastify/passport on Mercurius (Fastify).
 * docs/PASSPORT.md, "Logging in from a GraphQL mutation".
 */
import {
  Inject,
  Injectable,
  Module,
  UnauthorizedException,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { Args, Context, GqlExecutionContext, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { AuthGuard } from '@nestjs/passport';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { setImmediate as turn } from 'node:timers/promises';
import request from 'supertest';
import { InMemorySessionStateStore, SessionState, SessionStateBehavior } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, sessionCookie, type AdapterName } from '../support/test-app.js';
import { FASTIFY_PASSPORT, configureFastifyPassport, createAuthenticator, fastifyPassportModule } from './fixtures/fastify-passport-app.js';
import { USERS, configureExpressPassport, passportRecipeModule } from './fixtures/passport-recipe.js';
import { GRAPHQL_SERVER, gql, graphqlModule } from './graphql-app.js';

type ResolverRequest = { body?: unknown; user?: { id: number }; logout?: (cb: (e?: unknown) => void) => void; logOut?: () => Promise<void> };

/** The GraphQL request passport works on, with the mutation's arguments as the form it reads. */
function loginRequest(context: ExecutionContext): ResolverRequest {
  const gqlContext = GqlExecutionContext.create(context);
  const req = gqlContext.getContext<{ req: ResolverRequest }>().req;
  req.body = gqlContext.getArgs();
  return req;
}

/** Express: @nestjs/passport's AuthGuard('local'), reading the resolver's request. */
@Injectable()
class GqlLocalGuard extends AuthGuard('local') {
  override getRequest(context: ExecutionContext) {
    return loginRequest(context);
  }
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const result = (await super.canActivate(context)) as boolean;
    await super.logIn(this.getRequest(context) as never);
    return result;
  }
}

/**
 * Fastify: @fastify/passport's authenticate('local') on the resolver's request and reply, with a
 * callback (passport answers nothing itself: the GraphQL server answers), which logs the user in.
 */
@Injectable()
class GqlFastifyLocalGuard implements CanActivate {
  constructor(@Inject(FASTIFY_PASSPORT) private readonly passport: ReturnType<typeof createAuthenticator>) {}
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = loginRequest(context) as unknown as FastifyRequest;
    const reply = GqlExecutionContext.create(context).getContext<{ reply: FastifyReply }>().reply;
    let signedIn = false;
    await this.passport
      .authenticate('local', async (request, _reply, error, user) => {
        if (error) throw error;
        if (!user) return;
        await request.logIn(user);
        signedIn = true;
      })
      .call(reply.server, req, reply);
    if (!signedIn) throw new UnauthorizedException();
    return true;
  }
}

/** @fastify/passport's logOut() returns a promise; passport's logout() takes a callback. */
async function logOut(adapter: AdapterName, req: ResolverRequest): Promise<true> {
  if (adapter === 'fastify') await req.logOut!();
  else await new Promise<void>((resolve, reject) => req.logout!((error) => (error ? reject(error) : resolve())));
  return true;
}

const LoginGuard = { express: GqlLocalGuard, fastify: GqlFastifyLocalGuard } as const;

function loginResolver(adapter: AdapterName) {
  @Resolver()
  class LoginResolver {
    constructor(private readonly gates: Gates) {}

    /** Parked at `gate` (when given) once signed in. */
    @UseGuards(LoginGuard[adapter])
    @SessionState(SessionStateBehavior.Required)
    @Mutation(() => Int)
    async login(
      @Args('username') _username: string,
      @Args('password') _password: string,
      @Args('gate', { nullable: true, type: () => String }) gate: string | undefined,
      @Context('req') req: ResolverRequest,
    ): Promise<number> {
      if (gate) await this.gates.pass(gate);
      return req.user!.id;
    }

    /** The same login, on a mutation that does not declare the session. */
    @UseGuards(LoginGuard[adapter])
    @Mutation(() => Int)
    loginUndeclared(@Args('username') _username: string, @Args('password') _password: string, @Context('req') req: ResolverRequest): number {
      return req.user!.id;
    }

    /** Writes `req.session` in a mutation that does not declare the session. */
    @Mutation(() => Boolean)
    remember(@Context('req') req: { session: { set(key: string, value: unknown): void } }): boolean {
      req.session.set('remembered', true);
      return true;
    }

    @SessionState(SessionStateBehavior.Required)
    @Mutation(() => Boolean)
    async logout(@Context('req') req: ResolverRequest): Promise<boolean> {
      return logOut(adapter, req);
    }

    /** The same logout, on a mutation that does not declare the session. */
    @Mutation(() => Boolean)
    async logoutUndeclared(@Context('req') req: ResolverRequest): Promise<boolean> {
      return logOut(adapter, req);
    }

    /** The same logout, on a mutation declared ReadOnly: no lock held, as in an undeclared one. */
    @SessionState(SessionStateBehavior.ReadOnly)
    @Mutation(() => Boolean)
    async logoutReadOnly(@Context('req') req: ResolverRequest): Promise<boolean> {
      return logOut(adapter, req);
    }

    /** Uses no session; parked until the test opens its gate, then fails. */
    @Mutation(() => Int, { nullable: true })
    async failAt(@Args('gate') gate: string): Promise<number> {
      await this.gates.pass(gate);
      throw new Error('failed on purpose');
    }

    /** An undeclared query that reads req.session: whether it holds passport's user. */
    @Query(() => Boolean)
    hasPassport(@Context('req') req: { session: { get(key: string): unknown } }): boolean {
      const value = req.session.get('passport');
      return value !== undefined && value !== null && (typeof value !== 'object' || 'user' in value);
    }

    @Query(() => Int, { nullable: true })
    whoami(@Context('req') req: ResolverRequest): number | null {
      return req.user?.id ?? null;
    }
  }
  return LoginResolver;
}

async function startApp(adapter: AdapterName, store: InMemorySessionStateStore, gates: Gates): Promise<INestApplication> {
  const providers = [loginResolver(adapter), LoginGuard[adapter], { provide: Gates, useValue: gates }];
  if (adapter === 'express') {
    @Module({ imports: [passportRecipeModule(store), graphqlModule(adapter)], providers })
    class ExpressGraphQLPassport {}
    const app = (await Test.createTestingModule({ imports: [ExpressGraphQLPassport] }).compile()).createNestApplication({ logger: false });
    await configureExpressPassport(app);
    await app.init();
    return app;
  }
  const passport = createAuthenticator();
  @Module({
    imports: [fastifyPassportModule(store, passport), graphqlModule(adapter)],
    providers: [...providers, { provide: FASTIFY_PASSPORT, useValue: passport }],
  })
  class FastifyGraphQLPassport {}
  const moduleRef = await Test.createTestingModule({ imports: [FastifyGraphQLPassport] }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  await configureFastifyPassport(app, passport);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

const idOf = (cookie: string) => cookie.slice(cookie.indexOf('=') + 1);
type Entry = { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] };

describe.each(ADAPTERS)('passport login from a GraphQL mutation, under mountSessionState, over %s', (adapter) => {
  const server = GRAPHQL_SERVER[adapter];
  const store = new InMemorySessionStateStore();
  const gates = new Gates();
  let app: INestApplication;
  let http: unknown;
  beforeAll(async () => {
    app = await startApp(adapter, store, gates);
    http = app.getHttpServer();
  });
  afterEach(() => {
    gates.openAll();
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });
  afterAll(() => app.close());

  const LOGIN = (user: string, password: string, field = 'login') => ({
    query: `mutation { ${field}(username: "${user}", password: "${password}") }`,
  });
  const whoami = async (cookie?: string) => (await gql(http, { query: '{ whoami }' }, cookie)).body.data.whoami as number | null;
  /** An anonymous session with a value (what a visitor has before signing in). */
  const anonymous = async () =>
    sessionCookie(
      (
        await request(http as never)
          .post('/api/set')
          .send({ cart: 1 })
          .expect(200)
      ).headers,
    )!;

  it(`(${server}) a login mutation declared Required signs in under a new id, the anonymous one removed; logout signs out`, async () => {
    const before = await anonymous();
    const res = await gql(http, LOGIN('john', 'changeme'), before);
    expect(res.body).toEqual({ data: { login: 1 } });
    const cookie = sessionCookie(res.headers)!;
    expect(idOf(cookie)).not.toBe(idOf(before)); // session fixation: a new id
    expect((await store.getItem(idOf(before))).kind).toBe('absent');
    expect(await whoami(cookie)).toBe(1);
    await request(http as never)
      .get('/me')
      .set('Cookie', cookie)
      .expect(200);
    expect(await whoami(before)).toBeNull();
    const out = await gql(http, { query: 'mutation { logout }' }, cookie);
    expect(out.body).toEqual({ data: { logout: true } });
    expect(await whoami(cookie)).toBeNull();
  });

  it(`(${server}) passport's user is the session's owner: sign-out-everywhere covers a login made in a mutation`, async () => {
    const res = await gql(http, LOGIN('john', 'changeme'));
    const cookie = sessionCookie(res.headers)!;
    expect(await whoami(cookie)).toBe(1);
    expect(await store.revokeOwner('1')).toBeGreaterThanOrEqual(1);
    expect(await whoami(cookie)).toBeNull();
  });

  it(`(${server}) a wrong password: an error, not signed in, the anonymous session kept as it was`, async () => {
    const before = await anonymous();
    const res = await gql(http, LOGIN('john', 'wrong'), before);
    expect(res.body.data).toBeNull();
    expect(res.body.errors).toHaveLength(1);
    expect(sessionCookie(res.headers)).toBeUndefined();
    expect(await whoami(before)).toBeNull();
    await request(http as never)
      .get('/api/get')
      .set('Cookie', before)
      .expect(200)
      .expect((r) => expect(r.body.data).toEqual({ cart: 1 }));
  });

  it(`(${server}) a login mutation that does not declare the session: refused, naming the fix; nothing stored, no cookie`, async () => {
    const before = await anonymous();
    const res = await gql(http, LOGIN('john', 'changeme', 'loginUndeclared'), before);
    expect(res.body.data).toBeNull();
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors[0].message).toContain('holds no session lock');
    expect(res.body.errors[0].message).toContain('declare the route or resolver @SessionState(SessionStateBehavior.Required)');
    expect(res.body.errors[0].message).not.toContain('before the route was known');
    expect(sessionCookie(res.headers)).toBeUndefined();
    expect(await whoami(before)).toBeNull();
    expect((await store.getItem(idOf(before))).kind).toBe('loaded');
    // Any write there throws at once, as on a route that holds no lock.
    const write = await gql(http, { query: 'mutation { remember }' }, before);
    expect(write.body.errors?.[0]?.message).toContain('holds no session lock');
    expect(sessionCookie(write.headers)).toBeUndefined();
  });

  it(`(${server}) a logout in a mutation that does not declare the session: not answered as done; the session stays signed in`, async () => {
    const cookie = sessionCookie((await gql(http, LOGIN('john', 'changeme'))).headers)!;
    const res = await gql(http, { query: 'mutation { logoutUndeclared }' }, cookie);
    expect(res.status).toBe(200);
    const answer = res.body as Entry;
    if (adapter === 'express') {
      // passport's logout() saves: refused, as any save where no lock is held.
      expect(answer.data).toBeNull();
      expect(answer.errors?.[0]?.message).toContain('holds no session lock');
    } else {
      // @fastify/passport's logOut() only removes (kept for this request, not saved): its answer says so (review R39).
      expect(answer.data).toEqual({ logoutUndeclared: true });
      expect(answer.errors?.map((e) => e.extensions?.code)).toEqual(['SESSION_STATE_NOT_SAVED']);
      expect(answer.errors?.[0]?.message).toContain('Declare the resolver @SessionState(SessionStateBehavior.Required)');
    }
    expect(sessionCookie(res.headers)).toBeUndefined();
    expect(await whoami(cookie)).toBe(1);
    // So in a mutation declared ReadOnly (review R41).
    const readOnly = (await gql(http, { query: 'mutation { logoutReadOnly }' }, cookie)).body as Entry;
    if (adapter === 'express') expect(readOnly.errors?.[0]?.message).toMatch(/read-only/);
    else expect(readOnly.errors?.map((e) => e.extensions?.code)).toEqual(['SESSION_STATE_NOT_SAVED']);
    expect(await whoami(cookie)).toBe(1);
  });

  it(`(${server}) a visitor without a session calling the undeclared logout: nothing stored to remove, a plain answer`, async () => {
    const res = await gql(http, { query: 'mutation { logoutUndeclared }' });
    if (adapter === 'fastify') expect(res.body).toEqual({ data: { logoutUndeclared: true } });
    else expect(res.body.errors?.[0]?.extensions?.code).not.toBe('SESSION_STATE_NOT_SAVED');
    expect(sessionCookie(res.headers)).toBeUndefined();
  });

  it(`(${server}) a user passport can no longer find: an undeclared query reads req.session as the session strategy left it`, async () => {
    USERS.push({ id: 43, username: 'gone', password: 'pw' });
    const cookie = sessionCookie((await gql(http, LOGIN('gone', 'pw'))).headers)!;
    USERS.splice(
      USERS.findIndex((user) => user.id === 43),
      1,
    );
    // The strategy removed the user in middleware (not saved: the request holds no lock); the resolver sees that (review R42).
    expect((await gql(http, { query: '{ whoami hasPassport }' }, cookie)).body).toEqual({ data: { whoami: null, hasPassport: false } });
  });

  it(`(${server}) a batch whose other operation fails: ${adapter === 'express' ? "passport's save() stored the login at once, kept" : '@fastify/passport saves at the end, so the login is discarded and its answer marked'}`, async () => {
    const before = await anonymous();
    const answered = gql(
      http,
      [{ query: 'mutation { login(username: "maria", password: "guess", gate: "login") }' }, { query: 'mutation { failAt(gate: "fail") }' }],
      before,
    ).then((res) => res);
    await Promise.all([gates.arrived('login'), gates.arrived('fail')]);
    // The failing operation answers first, the login last (one turn between: see graphql-batch-mark.e2e.spec.ts).
    gates.open('fail');
    await turn();
    gates.open('login');
    const res = await answered;
    expect(res.status).toBe(200);
    const [login, failed] = res.body as [Entry, Entry];
    expect(failed.errors).toHaveLength(1);
    const cookie = sessionCookie(res.headers);
    if (adapter === 'express') {
      // passport's req.login() calls req.session.save(): stored when it returned, as with express-session.
      expect(login).toEqual({ data: { login: 2 } });
      expect(await whoami(cookie)).toBe(2);
      expect((await store.getItem(idOf(before))).kind).toBe('absent');
    } else {
      // @fastify/passport's logIn() saves nothing itself: the batch's failure discards the login.
      expect(login.data).toEqual({ login: 2 });
      expect(login.errors?.map((e) => e.extensions?.code)).toEqual(['SESSION_STATE_NOT_SAVED']);
      expect(cookie).toBeUndefined();
      expect(await whoami(before)).toBeNull();
      expect((await store.getItem(idOf(before))).kind).toBe('loaded');
    }
  });

  it(`(${server}) two logins with one anonymous cookie at once: one signs in, the other waits and is refused (409), never two sessions`, async () => {
    const before = await anonymous();
    const [a, b] = await Promise.all([gql(http, LOGIN('john', 'changeme'), before), gql(http, LOGIN('john', 'changeme'), before)]);
    const answers = [a, b].map((res) => ({ data: res.body.data, code: res.body.errors?.[0]?.extensions?.code, cookie: sessionCookie(res.headers) }));
    const signedIn = answers.filter((answer) => answer.data?.login === 1);
    const refused = answers.filter((answer) => answer.code === 'SESSION_STATE_409');
    expect(signedIn).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0].cookie).toBeUndefined();
    expect(await whoami(signedIn[0].cookie)).toBe(1);
  });
});
