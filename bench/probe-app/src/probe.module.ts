import { BadRequestException, Controller, Get, HttpCode, Module, Post, Put, Query, UseGuards, type Type } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  HttpSessionState,
  InMemorySessionStateStore,
  Session,
  SessionState,
  SessionStateBehavior,
  SessionStateGuard,
  SessionStateModule,
} from 'nestjs-session-state';
import { DynamoDBSessionStateStore } from 'nestjs-session-state/dynamodb';
import { RedisSessionStateStore, type RedisSessionStateStoreOptions } from 'nestjs-session-state/redis';

/**
 * The peer's counter, notes and ping routes (and the sample app's), on nestjs-session-state.
 * SESSION_BINDING=guard: the same routes bound by `@UseGuards(SessionStateGuard)` (no interceptor).
 * A class made per binding: the guard binding applies to the routes its own class declares.
 */
function probeController(guarded: boolean): Type {
  @Controller()
  @UseGuards(...(guarded ? [SessionStateGuard] : []))
  class ProbeController {
    @Get('ping')
    ping(): string {
      return 'pong';
    }

    @Get('counter')
    @SessionState(SessionStateBehavior.ReadOnly)
    read(@Session() session: HttpSessionState) {
      return { count: session.get<number>('count') ?? 0 };
    }

    /** The peer's handler, as it is (sync, the session its only parameter): the throughput figures compare the session layers alone. */
    @Post('counter')
    @HttpCode(200)
    increment(@Session() session: HttpSessionState) {
      const count = (session.get<number>('count') ?? 0) + 1;
      session.set('count', count);
      return { count };
    }

    /**
     * The contention figures' counter: `delayMs` of simulated work between the read and the write
     * (the lock hand-off), and when the handler ran (epoch ms, sub-ms): the time between one
     * handler's end and the next one's start is the hand-off, measured where it happens.
     */
    @Post('counter/work')
    @HttpCode(200)
    async work(@Session() session: HttpSessionState, @Query('delayMs') delayMs?: string) {
      const delay = delayMs === undefined ? 0 : /^\d{1,5}$/.test(delayMs) ? Number(delayMs) : NaN;
      if (!(delay >= 0 && delay <= 10_000)) throw new BadRequestException('delayMs must be a whole number from 0 to 10000');
      const start = performance.timeOrigin + performance.now();
      const count = session.get<number>('count') ?? 0;
      if (delay > 0) await sleep(delay);
      session.set('count', count + 1);
      return { count: count + 1, handler: [start, performance.timeOrigin + performance.now()] };
    }

    /** The peer's `PUT /notes?kb=`: a session of a chosen size (random hex), for the Redis memory figures. */
    @Put('notes')
    @HttpCode(200)
    setNotes(@Session() session: HttpSessionState, @Query('kb') kb?: string) {
      const size = kb !== undefined && /^\d{1,3}$/.test(kb) ? Number(kb) : NaN;
      if (!(size >= 0 && size <= 300)) throw new BadRequestException('kb must be a whole number from 0 to 300');
      session.set('notes', randomBytes((size * 1024) / 2).toString('hex'));
      return { length: size * 1024 };
    }
  }
  return ProbeController;
}

/**
 * SESSION_STORE=redis: REDIS_URL, the client's connections named REDIS_CLIENT_NAME (the bench
 * attributes the server's commands by it), BENCH_REDIS_OPTIONS: more store options (JSON).
 */
const redisStore = () =>
  new RedisSessionStateStore({
    url: process.env.REDIS_URL,
    clientOptions: { name: process.env.REDIS_CLIENT_NAME },
    ...(JSON.parse(process.env.BENCH_REDIS_OPTIONS ?? '{}') as RedisSessionStateStoreOptions),
  });

const store =
  process.env.SESSION_STORE === 'dynamodb'
    ? new DynamoDBSessionStateStore({
        tableName: process.env.SESSION_TABLE ?? 'bench-sessions',
        createIfNotExists: true,
        clientConfig: { region: process.env.AWS_REGION ?? 'us-east-1', endpoint: process.env.DYNAMODB_ENDPOINT },
      })
    : process.env.SESSION_STORE === 'redis'
      ? redisStore()
      : new InMemorySessionStateStore();

@Module({
  imports: [
    SessionStateModule.forRoot({
      store,
      timeout: 20,
      // Signed like the peer's cookie (express-session requires a secret): both verify an HMAC per request.
      secret: 'bench-probe-secret-0123456789',
      // For trying polling settings: BENCH_POLL=min,max (ms); the module's defaults otherwise.
      ...(process.env.BENCH_POLL && {
        lockWait: { pollMinMs: Number(process.env.BENCH_POLL.split(',')[0]), pollMaxMs: Number(process.env.BENCH_POLL.split(',')[1]) },
      }),
    }),
  ],
  controllers: [probeController(process.env.SESSION_BINDING === 'guard')],
})
export class ProbeModule {}
