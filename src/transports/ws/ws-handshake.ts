import type { IncomingMessage } from 'node:http';
import { loadWsException } from './to-ws-exception.js';

/**
 * The HTTP upgrade request of a WebSocket connection: its cookies name the session.
 * socket.io keeps it on the socket (`handshake`, `request`); a `ws` WebSocket does not, so
 * `rememberUpgrade` records it, by the TCP socket, when the application's HTTP server upgrades.
 */
const upgrades = new WeakMap<object, IncomingMessage>();

export function rememberUpgrade(request: IncomingMessage): void {
  upgrades.set(request.socket, request);
  void loadWsException(); // a gateway may answer this connection: have its exception class ready
}

export interface WsHandshake {
  cookieHeader: string | undefined;
  isHttps: boolean;
  /** A header of the upgrade request (the opt-in id header: a native client can set it, a browser's WebSocket cannot). */
  requestHeader(name: string): string | undefined;
}

/** The handshake of a gateway's client (socket.io `Socket` or `ws` `WebSocket`), or undefined if unknown. */
export function handshakeOf(client: unknown): WsHandshake | undefined {
  if (typeof client !== 'object' || client === null) return undefined;
  const socketIo = (client as { handshake?: { headers?: IncomingMessage['headers']; secure?: boolean } }).handshake;
  if (socketIo?.headers) return handshakeOfHeaders(socketIo.headers, socketIo.secure === true);
  // `ws` keeps the TCP socket of the connection as `_socket` (stable since ws 1).
  const tcp = (client as { _socket?: object })._socket;
  const request = tcp ? upgrades.get(tcp) : undefined;
  return request ? handshakeOfRequest(request) : undefined;
}

/** The handshake an HTTP upgrade request carries (a `ws` connection, a GraphQL subscription's). */
export function handshakeOfRequest(request: IncomingMessage): WsHandshake {
  return handshakeOfHeaders(request.headers, (request.socket as { encrypted?: boolean } | undefined)?.encrypted === true);
}

function handshakeOfHeaders(headers: IncomingMessage['headers'], isHttps: boolean): WsHandshake {
  return { cookieHeader: header(headers.cookie), isHttps, requestHeader: (name) => header(headers[name]) };
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join('; ') : value;
}
