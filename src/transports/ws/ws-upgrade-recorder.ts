import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { rememberUpgrade } from './ws-handshake.js';

/**
 * Records the upgrade requests of the application's HTTP server, so that a `ws` gateway's message
 * finds the cookies of its connection's handshake (socket.io keeps them itself). Costs nothing to
 * an application without WebSocket gateways: no upgrade ever happens.
 */
@Injectable()
export class WsUpgradeRecorder implements OnApplicationBootstrap {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer?.() as
      { prependListener?(event: 'upgrade', listener: (request: IncomingMessage) => void): unknown } | undefined;
    server?.prependListener?.('upgrade', rememberUpgrade);
  }
}
