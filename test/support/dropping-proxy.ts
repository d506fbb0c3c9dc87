/**
 * A TCP proxy in front of a real redis-server that loses one reply on demand: armed, it drops the
 * next connection that sends, once Redis has answered it (the answer swallowed). The command ran;
 * the client never learns it. ioredis then resends it on its next connection
 * (`autoResendUnfulfilledCommands`, true by default).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** Forwards to Redis; armed, it drops the next connection that sends, once Redis has answered it (the answer swallowed). */
export class DroppingProxy {
  armed = false;
  /** With `armed`: only a chunk that holds this text (a script's SHA1, say) is the one whose answer is lost. */
  armedFor: string | null = null;
  drops = 0;
  private readonly sockets = new Set<Socket>();
  private constructor(readonly server: Server) {}
  static async start(target: number): Promise<DroppingProxy> {
    const proxy: DroppingProxy = new DroppingProxy(
      createServer((client) => {
        const upstream = connect(target, '127.0.0.1');
        proxy.sockets.add(client).add(upstream);
        let dropAtReply = false;
        client.on('data', (chunk) => {
          if (proxy.armed && (proxy.armedFor === null || chunk.includes(proxy.armedFor))) {
            proxy.armed = false;
            proxy.armedFor = null;
            dropAtReply = true;
          }
          upstream.write(chunk);
        });
        upstream.on('data', (chunk) => {
          if (dropAtReply) {
            proxy.drops++;
            client.destroy();
            upstream.destroy();
            return;
          }
          client.write(chunk);
        });
        const end = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on('close', end).on('error', end);
        upstream.on('close', end).on('error', end);
      }),
    );
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }
  get port(): number {
    return (this.server.address() as { port: number }).port;
  }
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
