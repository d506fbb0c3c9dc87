import { BadRequestException, Controller, Get, HttpCode, Module, Post, Query } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpSessionState, InMemorySessionStateStore, Session, SessionState, SessionStateBehavior, SessionStateModule } from 'nestjs-session-state';
import { DynamoDBSessionStateStore } from 'nestjs-session-state/dynamodb';

/** The peer's counter and ping routes (and the sample app's), on nestjs-session-state. */
@Controller()
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

  /**
   * `delayMs`: simulated work between the read and the write (the lock hand-off bench), which then
   * also gets when the handler ran (epoch ms, sub-ms): the time between one handler's end and the
   * next one's start is the hand-off, measured where it happens.
   */
  @Post('counter')
  @HttpCode(200)
  async increment(@Session() session: HttpSessionState, @Query('delayMs') delayMs?: string) {
    const delay = delayMs === undefined ? 0 : /^\d{1,5}$/.test(delayMs) ? Number(delayMs) : NaN;
    if (!(delay >= 0 && delay <= 10_000)) throw new BadRequestException('delayMs must be a whole number from 0 to 10000');
    const start = performance.timeOrigin + performance.now();
    const count = session.get<number>('count') ?? 0;
    if (delay > 0) await sleep(delay);
    session.set('count', count + 1);
    if (delayMs === undefined) return { count: count + 1 };
    return { count: count + 1, handler: [start, performance.timeOrigin + performance.now()] };
  }
}

const store =
  process.env.SESSION_STORE === 'dynamodb'
    ? new DynamoDBSessionStateStore({
        tableName: process.env.SESSION_TABLE ?? 'bench-sessions',
        createIfNotExists: true,
        clientConfig: { region: process.env.AWS_REGION ?? 'us-east-1', endpoint: process.env.DYNAMODB_ENDPOINT },
      })
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
  controllers: [ProbeController],
})
export class ProbeModule {}
