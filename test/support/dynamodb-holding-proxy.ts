import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with one request: hold it before forwarding, or hold DynamoDB's answer. */
export interface Hold {
  /** Forward the request only once this resolves (even if the client gave up meanwhile). */
  request?: Promise<void>;
  /** Send DynamoDB's answer to the client only once this resolves. */
  response?: Promise<void>;
  /** Called once DynamoDB has answered the forwarded request. */
  answered?: (status: number, body: string) => void;
}

export interface HoldingProxy {
  readonly endpoint: string;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of DynamoDB Local, like a slow network or load balancer: `hold` sees each
 * request (its `X-Amz-Target` operation and JSON body) and may hold it. A held request is forwarded
 * whatever the client did in between, as a proxy that already received it would.
 */
export async function startHoldingProxy(upstream: string, hold: (operation: string, body: string) => Hold | undefined): Promise<HoldingProxy> {
  const target = new URL(upstream);
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const operation =
      String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() ?? '';
    const chosen = hold(operation, body) ?? {};
    await chosen.request;
    const forwarded = httpRequest({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    });
    forwarded.on('response', async (answer) => {
      const text = await readBody(answer);
      chosen.answered?.(answer.statusCode ?? 0, text);
      await chosen.response;
      if (res.destroyed) return;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      res.end(text);
    });
    forwarded.on('error', () => res.destroy());
    forwarded.end(body);
  });
  // The client aborting must not fail the proxy.
  server.on('clientError', (_, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(stream: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}
