import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Controller, Get } from '@nestjs/common';
import ConnectDynamoDB from 'connect-dynamodb';
import session from 'express-session';
import { HttpSessionState, Session, SessionStateModule } from '../src/index.js';
import { EXPRESS_SESSION_OPTIONS } from '../src/module/express-session-options.js';
import { optionsError } from './support/options-error.js';
import { ADAPTERS, createTestApp } from './support/test-app.js';

/** What an app moving from express-session typically passes (docs/MIGRATING.md's "before"). */
const EXPRESS_SESSION_CONFIG = {
  name: 'connect.sid',
  secret: 'keyboard cat, but long enough',
  resave: false,
  saveUninitialized: false,
  rolling: true,
  proxy: true,
  genid: () => 'x',
  unset: 'destroy',
  cookie: { maxAge: 60_000, expires: new Date(0), encode: String, priority: 'high', sameSite: 'lax' },
};

@Controller()
class WhoController {
  @Get('who')
  who(@Session() s: HttpSessionState) {
    s.set('seen', true);
    return 'ok';
  }
}

describe('express-session option names', () => {
  it('are refused at startup, each with where it went, in one message', () => {
    const message = optionsError(EXPRESS_SESSION_CONFIG);
    const lines = message.split('\n').slice(1);
    expect(lines).toEqual([
      '- name is an express-session option: use cookie.name (default sid) (docs/MIGRATING.md)',
      expect.stringMatching(/^- resave is an express-session option: remove it: a session is written only when its data changed/),
      expect.stringMatching(
        /^- saveUninitialized is an express-session option: remove it: a new session is stored .* only when a request writes to it/,
      ),
      expect.stringMatching(/^- rolling is an express-session option: remove it: the expiry slides on every read-write request/),
      expect.stringMatching(/^- proxy is an express-session option: remove it: cookie.secure 'auto' .* trust-proxy/),
      expect.stringMatching(/^- genid is an express-session option: remove it: ids are always 192 random bits/),
      expect.stringMatching(/^- unset is an express-session option: remove it: session.abandon\(\) ends a session/),
      '- cookie.expires is an express-session option: use cookie.maxAge (milliseconds, at most timeout), or session.cookie.maxAge per session (docs/MIGRATING.md)',
      expect.stringMatching(/^- cookie.encode is an express-session option: remove it/),
      expect.stringMatching(/^- cookie.priority is an express-session option: remove it/),
    ]);
    // Every documented name has a message, and none is the generic "is not an option".
    for (const path of Object.keys(EXPRESS_SESSION_OPTIONS)) {
      const [top, nested] = path.split('.');
      const msg = optionsError(nested === undefined ? { [top]: true } : { [top]: { [nested]: true } });
      expect(msg).toContain(`${path} is an express-session option: `);
      expect(msg).not.toContain('is not an option');
    }
  });

  it('keeps refusing other unknown keys with the nearest valid one', () => {
    expect(optionsError({ cookieName: 'x' })).toContain('cookieName is not an option (did you mean cookie?)');
    expect(optionsError({ cookie: { maxage: 1000 } })).toContain('cookie.maxage is not an option (did you mean cookie.maxAge?)');
  });

  it('refuses a short secret (express-session takes any length) with the 16-character minimum', () => {
    expect(optionsError({ secret: 'keyboard cat' })).toContain('secret must be a string (or an array of strings) of at least 16 characters');
  });

  it('refuses an express-session store (a real MemoryStore, a real connect-dynamodb) saying it has no lock and what to use', () => {
    const DynamoDBStore = ConnectDynamoDB(session);
    const client = new DynamoDBClient({ region: 'us-east-1' });
    try {
      for (const store of [new session.MemoryStore(), new DynamoDBStore({ client, table: 'sessions' })]) {
        expect(optionsError({ store })).toContain(
          'store is an express-session store (connect-redis, connect-dynamodb, MemoryStore…), which has no lock: use a SessionStateStore',
        );
      }
    } finally {
      client.destroy();
    }
    expect(optionsError({ store: {} })).toContain('store must be a SessionStateStore');
  });

  it.each(ADAPTERS)('stop the application at startup on %s, through forRoot and forRootAsync', async (adapter) => {
    const expected = /resave is an express-session option: remove it[^]*saveUninitialized is an express-session option/;
    const given = { resave: false, saveUninitialized: true } as never;
    await expect(createTestApp(adapter, { imports: [SessionStateModule.forRoot(given)], controllers: [WhoController] })).rejects.toThrow(expected);
    await expect(
      createTestApp(adapter, { imports: [SessionStateModule.forRootAsync({ useFactory: () => given })], controllers: [WhoController] }),
    ).rejects.toThrow(expected);
  });
});
