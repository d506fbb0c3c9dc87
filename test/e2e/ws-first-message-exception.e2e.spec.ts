import { firstMessageOfProcess } from './fixtures/first-ws-message.js';

/*
 * The first WebSocket message of a process gets the catalog's exception like any other, and no log
 * line shows its session id (its own file: vitest runs each file in a fresh module graph, so no
 * earlier test has loaded WsException yet). Found by review R4: the first message's error went out
 * raw ("Internal server error", the store's text logged) while WsException was still loading.
 */

it('socket.io over long-polling: the first message of a process whose store fails gets the catalog message, and no log line shows the id', async () => {
  expect(await firstMessageOfProcess('getItemExclusive')).toEqual({
    got: 'exception:Session state failed; the changes of this request were not saved.',
    leaked: [],
  });
});
