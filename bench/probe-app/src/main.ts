// Our side of `npm run bench`: the peer app's routes and HTTP contract (bench/peer-app), on
// nestjs-session-state's public API and nothing else, so the two apps differ only by the session
// library. SESSION_STORE=memory (default), dynamodb (DYNAMODB_ENDPOINT, SESSION_TABLE) or redis (REDIS_URL:
// probe.module.ts); PORT from the bench.
import { NestFactory } from '@nestjs/core';
import { ProbeModule } from './probe.module.js';

const app = await NestFactory.create(ProbeModule, { logger: ['error', 'warn'] });
// APP_SHAPE=interceptor: the app shape most real apps have, one global interceptor (a logging one,
// ClassSerializerInterceptor…), here a no-op, so every route runs Nest's interceptor pipeline.
if (process.env.APP_SHAPE === 'interceptor') app.useGlobalInterceptors({ intercept: (_context, next) => next.handle() });
await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
// A plain exit after closing (not Nest's re-raised signal), so `node --cpu-prof` writes its profile.
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
