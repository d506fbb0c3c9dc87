/**
 * A request pipelined behind another on one keep-alive connection (HTTP/1.1) waits for the session's
 * lock; its client closes the connection. Node emits no 'close' on such a waiting response, only on
 * the socket: the request stayed in the queue, ran once the lock came free, and saved its write for a
 * client that had gone (review R17). It must leave the queue (README: "a request aborted while
 * waiting leaves the queue") and never run.
 */
import { connect } from 'node:net';
import request from 'supertest';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { listening } from '../support/leaving-client.js';
import { idOf, sessionApps } from './session-app.js';

describe.each(ADAPTERS)('a pipelined request whose client closes the connection while it waits for the lock, over %s', (adapter) => {
  const apps = sessionApps();

  it('leaves the queue and never runs: the next request of the session is served after the first alone', async () => {
    const t = await apps.start(adapter, {});
    const http = t.app.getHttpServer();
    http.listen(0);
    await listening(http);
    const cookie = sessionCookie((await request(http).post('/seed').expect(200)).headers)!;
    const id = idOf(cookie);
    const socket = connect(http.address().port, '127.0.0.1');
    socket.on('error', () => {});
    const post = (gate: string) => `POST /count?gate=${gate} HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\nContent-Length: 0\r\n\r\n`;
    socket.write(post('hold') + post('second'));
    await t.gates.arrived('hold');
    await vi.waitFor(() => expect(t.waiting(id)).toBe(1));
    socket.destroy();
    await vi.waitFor(() => expect(t.waiting(id)).toBe(0));
    t.gates.open('hold');
    // Had the gone client's request run, it would hold the lock at its gate, and this request wait behind it.
    const ran = t.gates.arrived('second').then(() => 'the request of the gone client ran');
    const next = request(http)
      .post('/count')
      .set('Cookie', cookie)
      .then((r) => r.body.count as number);
    const outcome = await Promise.race([ran, next]);
    t.gates.open('second');
    // The first request's write may have been saved (its handler had run): 1 or 2, never 3.
    expect([1, 2]).toContain(outcome);
  });
});
