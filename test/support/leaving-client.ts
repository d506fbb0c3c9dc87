import { request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

let sent = 0;

/** Makes the application's HTTP server listen (on a free port) if it does not yet; supertest then uses that port too. */
export async function listening(server: Server): Promise<void> {
  if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
}

/**
 * A request over its own connection that the test abandons when it chooses (`leave()`), so that
 * tests order a client's leaving by events rather than by a client timeout: `closedOnServer`
 * resolves when the server saw its response close (the client left, or it was answered).
 * `json`: a body sent with the request (a GraphQL operation). The server must be listening (`listening`).
 */
export function leavingClient(
  server: Server,
  { method = 'POST', path, cookie, json }: { method?: string; path: string; cookie?: string; json?: object },
): { leave(): void; closedOnServer: Promise<void> } {
  const tag = String(++sent);
  let closed = () => {};
  const closedOnServer = new Promise<void>((resolve) => (closed = resolve));
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers['x-leaving-client'] !== tag) return;
    server.off('request', onRequest);
    res.once('close', closed);
  };
  server.on('request', onRequest);
  const { port } = server.address() as AddressInfo;
  const body = json === undefined ? undefined : JSON.stringify(json);
  const headers: Record<string, string> = {
    'x-leaving-client': tag,
    ...(cookie ? { cookie } : {}),
    ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
  };
  const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false });
  req.on('error', () => {}); // the test destroys it
  req.end(body);
  return { leave: () => void req.destroy(), closedOnServer };
}
