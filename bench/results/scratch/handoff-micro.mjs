// in-process hand-off: 20 concurrent requests on one session, each handler 20 ms; gap between handlers
import 'reflect-metadata';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { NestFactory } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { Module, Controller, Post } from '@nestjs/common';
import { lastValueFrom, defer } from 'rxjs';
const LIB = process.env.LIB ?? '/work/main/dist/index.js';
const lib = await import(LIB);
const { SessionStateModule, InMemorySessionStateStore, SessionStateBehavior } = lib;
const { SessionStateInterceptor } = await import(LIB.replace('index.js', 'session-state.interceptor.js'));
const { leaseOf } = await import(LIB.replace('index.js', 'session-lease.js'));
const { SessionStateLifecycle } = await import(LIB.replace('index.js', 'session-state.lifecycle.js'));
const { SessionStateBehaviorResolver } = await import(LIB.replace('index.js', 'session-state-behavior.resolver.js'));
class C { counter() {} }
Reflect.decorate([Post('counter'), lib.SessionState(SessionStateBehavior.Required)], C.prototype, 'counter', Object.getOwnPropertyDescriptor(C.prototype, 'counter'));
Reflect.decorate([Controller()], C);
class M {}
Reflect.decorate([Module({ imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), timeout: 20 })], controllers: [C] })], M);
const app = await NestFactory.create(M, { logger: ['error'] });
await app.init();
const icpt = new SessionStateInterceptor(app.get(SessionStateLifecycle), app.get(SessionStateBehaviorResolver));
class Res extends EventEmitter { headersSent = false; destroyed = false; writableFinished = false; writableEnded = false; h = {}; setHeader(k, v) { this.h[k] = v; } append(k, v) { this.h[k] = v; } }
const run = async (cookie, work) => {
  const req = { headers: cookie ? { cookie } : {}, protocol: 'http' };
  const res = new Res();
  const ctx = new ExecutionContextHost([req, res, () => {}], C, C.prototype.counter);
  ctx.setType('http');
  return [res, await lastValueFrom(icpt.intercept(ctx, { handle: () => defer(async () => { globalThis.__mark?.('handler start'); const start = performance.now(); const s = leaseOf(req).session; const c = s.get('count') ?? 0; if (work) await sleep(work); s.set('count', c + 1); globalThis.__mark?.('handler end'); return [start, performance.now()]; }) }))];
};
if (process.env.TRACE) await import('./trace.mjs');
const [res0] = await run();
const cookie = String(res0.h['Set-Cookie']).split(';')[0];
for (let round = 0; round < 5; round++) {
  const runs = (await Promise.all(Array.from({ length: 20 }, () => run(cookie, 20)))).map((r) => r[1]).sort((a, b) => a[0] - b[0]);
  const gaps = runs.slice(1).map((r, i) => r[0] - runs[i][1]);
  console.log('gap ms mean', (gaps.reduce((a, b) => a + b) / gaps.length).toFixed(3), 'max', Math.max(...gaps).toFixed(3));
}
await app.close();
if (globalThis.__trace) { const t = globalThis.__trace; const i = t.findLastIndex((x) => x[0] === 'handler end' ); const s = t.slice(Math.max(0, i - 60), i - 15); const t0 = s[0][1]; for (const [w, at] of s) console.log(((at - t0) * 1000).toFixed(0).padStart(7), w); }
