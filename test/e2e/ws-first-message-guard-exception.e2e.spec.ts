import { APP_GUARD } from '@nestjs/core';
import { firstMessageOfProcess } from './fixtures/first-ws-message.js';
import { GlobalAccessorGuard } from './fixtures/global-accessor.guard.js';

/*
 * As ws-first-message-exception.e2e.spec.ts, with the session read first by a global guard
 * (`SessionStateAccessor`, which renders the error itself): its own file, for a fresh module graph.
 */

it("socket.io over long-polling: a global guard's read failing on the first message of a process: the catalog message, and no log line shows the id", async () => {
  expect(await firstMessageOfProcess('getItem', [{ provide: APP_GUARD, useClass: GlobalAccessorGuard }])).toEqual({
    got: 'exception:Session state failed; the changes of this request were not saved.',
    leaked: [],
  });
});
