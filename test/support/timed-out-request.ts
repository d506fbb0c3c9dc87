import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import type { Gates } from './gates.js';

/**
 * A `POST path` with `cookie`, timed out by the app's `timeout()` (./timeout.interceptor.ts, after 100 ms)
 * while its session's completion waits on the store's gate `gate`; the completion goes on once the timeout
 * fired, which a later request's own 408 shows (`/count?gate=tick` of the session-test controller, 150 ms,
 * sent after this one began). Answers the request's answer once nothing of it is left leased.
 */
export async function timedOutDuringCompletion(
  app: INestApplication,
  gates: Gates,
  path: string,
  cookie: string,
  gate = 'removal',
): Promise<request.Response> {
  const http = () => request(app.getHttpServer());
  const answer = http()
    .post(path)
    .set('Cookie', cookie)
    .set('x-timeout-ms', '100')
    .then((r) => r);
  await gates.arrived(gate);
  await http().post('/count?gate=tick').set('x-timeout-ms', '150').expect(408);
  gates.open('tick');
  gates.open(gate);
  const res = await answer;
  await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
  return res;
}
