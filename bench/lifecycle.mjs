// The session layer's own cost per request, in-process: no HTTP server, no load generator, nothing
// but the interceptor and the lifecycle around a handler that increments a counter, on the
// in-memory store, 32 sessions used in turn (as the bench's 32 users), fake request/response objects.
//   npm run build && node bench/lifecycle.mjs      (BENCH_DIST=path/to/dist: an earlier build; N=requests)
// Prints µs per request (median of 3 runs). What it leaves out (Nest's routing and interceptor
// pipeline, Express, the socket) is what `npm run bench` and `bench/profile.mjs` measure.
import 'reflect-metadata';
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Controller, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { defer, lastValueFrom } from 'rxjs';

const dist = resolve(process.env.BENCH_DIST ?? 'dist');
const load = (file) => import(pathToFileURL(`${dist}/${file}`).href);
const { SessionState, SessionStateBehavior, SessionStateModule, InMemorySessionStateStore } = await load('index.js');
const { SessionStateInterceptor } = await load('nest/session-state.interceptor.js');
const { SessionStateLifecycle } = await load('core/session-state.lifecycle.js');
const { SessionStateBehaviorResolver } = await load('nest/session-state-behavior.resolver.js');
const { leaseOf } = await load('core/session-lease.js');

class CounterController {
  increment() {}
}
Reflect.decorate(
  [Post('counter'), SessionState(SessionStateBehavior.Required)],
  CounterController.prototype,
  'increment',
  Object.getOwnPropertyDescriptor(CounterController.prototype, 'increment'),
);
Reflect.decorate([Controller()], CounterController);
class AppModule {}
Reflect.decorate(
  [Module({ imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), timeout: 20 })], controllers: [CounterController] })],
  AppModule,
);

const app = await NestFactory.create(AppModule, { logger: ['error'] });
await app.init();
const interceptor = new SessionStateInterceptor(app.get(SessionStateLifecycle), app.get(SessionStateBehaviorResolver));

/** What the lifecycle reads and writes of an Express response. */
class FakeResponse extends EventEmitter {
  headersSent = false;
  destroyed = false;
  writableFinished = false;
  writableEnded = false;
  headers = {};
  setHeader(name, value) {
    this.headers[name.toLowerCase()] = value;
  }
  getHeader(name) {
    return this.headers[name.toLowerCase()];
  }
  removeHeader(name) {
    delete this.headers[name.toLowerCase()];
  }
  append(name, value) {
    this.setHeader(name, value);
  }
}

/** One request through the interceptor: the handler reads the count and writes count + 1. */
async function request(cookie) {
  const req = { headers: cookie ? { cookie } : {}, protocol: 'http' };
  const res = new FakeResponse();
  const context = new ExecutionContextHost([req, res, () => {}], CounterController, CounterController.prototype.increment);
  context.setType('http');
  const handler = defer(async () => {
    const session = leaseOf(req).session;
    const count = (session.get('count') ?? 0) + 1;
    session.set('count', count);
    return { count };
  });
  const body = await lastValueFrom(interceptor.intercept(context, { handle: () => handler }));
  return { res, body };
}

const USERS = 32;
const N = Number(process.env.N ?? 100_000);
const cookies = [];
for (let i = 0; i < USERS; i++) cookies.push(String((await request()).res.headers['set-cookie']).split(';')[0]);
const users = async (requests) =>
  Promise.all(
    cookies.map(async (cookie) => {
      for (let i = 0; i < requests / USERS; i++) await request(cookie);
    }),
  );
await users(20_000); // warm-up
const runs = [];
for (let run = 0; run < 3; run++) {
  const start = performance.now();
  await users(N);
  runs.push(((performance.now() - start) * 1000) / N);
}
const { body } = await request(cookies[0]);
if (body.count !== 1 + (20_000 + 3 * N) / USERS + 1) throw new Error(`lost updates: count ${body.count}`);
console.log(`${dist}: ${runs.sort((a, b) => a - b)[1].toFixed(2)} µs per request (runs: ${runs.map((r) => r.toFixed(2)).join(', ')})`);
await app.close();
