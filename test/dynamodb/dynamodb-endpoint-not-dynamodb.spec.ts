/**
 * `clientConfig.endpoint` pointing at something that is not DynamoDB (a typo'd port on another
 * service, a proxy or load balancer answering 404): startup fails as a configuration error naming
 * the HTTP status and `clientConfig.endpoint`, not as a rejected request or an outage an operator
 * would wait out. A 5xx page stays an outage (a gateway whose upstream restarts), with the hint,
 * and so does a foreign answer on the request path.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SessionStateStoreMisconfiguredError, SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';

let server: http.Server;
let endpoint: string;
let answer = { status: 404, type: 'text/plain', body: '' };
beforeAll(async () => {
  server = http.createServer((_req, res) => {
    res.writeHead(answer.status, { 'content-type': answer.type });
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const stores: DynamoDBSessionStateStore[] = [];
afterEach(() => stores.splice(0).forEach((store) => store.destroy()));

function storeAtEndpoint(): DynamoDBSessionStateStore {
  const store = new DynamoDBSessionStateStore({
    tableName: 'sessions',
    createIfNotExists: true,
    clientConfig: { endpoint, region: 'us-east-1', maxAttempts: 1, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } },
  });
  stores.push(store);
  return store;
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => new Error('resolved'),
    (error: Error) => error,
  );

describe('a DynamoDB endpoint that is not DynamoDB', () => {
  it.each([
    ['an empty 404 (a proxy, a load balancer)', { status: 404, type: 'text/plain', body: '' }],
    ['an HTML 404 page (another web service)', { status: 404, type: 'text/html', body: '<html><body>Not Found</body></html>' }],
    ['a JSON 403 of another API', { status: 403, type: 'application/json', body: '{"error":"forbidden"}' }],
  ])('%s: init() fails as a configuration error giving the status and naming clientConfig.endpoint', async (_what, page) => {
    answer = page;
    const error = await failure(storeAtEndpoint().init());
    expect(error).toBeInstanceOf(SessionStateStoreMisconfiguredError);
    expect(error.message).toContain(`answered HTTP ${page.status}`);
    expect(error.message).toContain('Check clientConfig.endpoint');
  });

  it("a gateway's 502 page at startup is an outage (it may pass), with the endpoint hint", async () => {
    answer = { status: 502, type: 'text/html', body: '<html><body>Bad Gateway</body></html>' };
    const error = await failure(storeAtEndpoint().init());
    expect(error).toBeInstanceOf(SessionStateStoreUnavailableError);
    expect(error).not.toBeInstanceOf(SessionStateStoreMisconfiguredError);
    expect(error.message).toContain("the answer, HTTP 502, is not DynamoDB's: if it persists, check clientConfig.endpoint");
  });

  it('on the request path a foreign 404 page keeps its classification (an outage: the endpoint was DynamoDB at startup)', async () => {
    answer = { status: 404, type: 'text/html', body: '<html><body>Not Found</body></html>' };
    const error = await failure(storeAtEndpoint().getItem('a'.repeat(32)));
    expect(error).toBeInstanceOf(SessionStateStoreUnavailableError);
    expect(error).not.toBeInstanceOf(SessionStateStoreMisconfiguredError);
  });
});
