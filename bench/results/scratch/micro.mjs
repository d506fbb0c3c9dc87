// in-process: µs per request through the session interceptor (in-memory store), fake req/res
import 'reflect-metadata';
import { EventEmitter } from 'node:events';
import { NestFactory } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { Module, Controller, Post } from '@nestjs/common';
import { lastValueFrom, of, defer } from 'rxjs';
const lib = await import(process.env.LIB ?? '/work/main/dist/index.js');
const { SessionStateModule, InMemorySessionStateStore, SessionStateBehavior } = lib;
const { SessionStateInterceptor } = await import((process.env.LIB ?? '/work/main/dist/index.js').replace('index.js', 'session-state.interceptor.js'));
const { leaseOf } = await import((process.env.LIB ?? '/work/main/dist/index.js').replace('index.js', 'session-lease.js'));
class C { counter() {} }
Reflect.decorate([Post('counter'), lib.SessionState(SessionStateBehavior.Required)], C.prototype, 'counter', Object.getOwnPropertyDescriptor(C.prototype, 'counter'));
Reflect.decorate([Controller()], C);
class M {}
Reflect.decorate([Module({ imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), timeout: 20 })], controllers: [C] })], M);
const app = await NestFactory.create(M, { logger: ['error'] });
await app.init();
const { SessionStateLifecycle } = await import((process.env.LIB ?? '/work/main/dist/index.js').replace('index.js', 'session-state.lifecycle.js'));
const { SessionStateBehaviorResolver } = await import((process.env.LIB ?? '/work/main/dist/index.js').replace('index.js', 'session-state-behavior.resolver.js'));
const icpt = new SessionStateInterceptor(app.get(SessionStateLifecycle), app.get(SessionStateBehaviorResolver));
class Res extends EventEmitter { headersSent = false; destroyed = false; writableFinished = false; writableEnded = false; h = {}; setHeader(k, v) { this.h[k] = v; } append(k, v) { this.h[k] = v; } }
const handler = C.prototype.counter;
const run = async (cookie) => {
  const req = { headers: cookie ? { cookie } : {}, protocol: 'http' };
  const res = new Res();
  const ctx = new ExecutionContextHost([req, res, () => {}], C, handler);
  ctx.setType('http');
  const out = await lastValueFrom(icpt.intercept(ctx, { handle: () => defer(async () => { const s = leaseOf(req).session; const c = s.get('count') ?? 0; s.set('count', c + 1); return { count: c + 1 }; }) }));
  return [res, out];
};
const USERS = 32;
const cookies = [];
for (let u = 0; u < USERS; u++) { const [r] = await run(); cookies.push(String(r.h['Set-Cookie']).split(';')[0]); }
const N = Number(process.env.N ?? 200000);
const user = async (cookie, n) => { for (let i = 0; i < n; i++) await run(cookie); };
await Promise.all(cookies.map((c) => user(c, 20000 / USERS)));
const t = performance.now();
await Promise.all(cookies.map((c) => user(c, N / USERS)));
const us = ((performance.now() - t) * 1000) / N;
const [, out] = await run(cookies[0]);
console.log('µs/request', us.toFixed(2), 'count', out.count);
await app.close();
