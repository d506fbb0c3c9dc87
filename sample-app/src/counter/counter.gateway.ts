import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { HttpSessionState, Session, SessionState, SessionStateBehavior } from 'nestjs-session-state';

/**
 * The counter over socket.io, on the HTTP server's port. The session is the one the handshake's
 * cookie names (connect after an HTTP request or a GraphQL mutation has set it); each message runs
 * like an HTTP request, so increments by messages and by requests of one session never collide.
 */
@WebSocketGateway()
export class CounterGateway {
  @SubscribeMessage('counter')
  @SessionState(SessionStateBehavior.ReadOnly)
  counter(@Session() session: HttpSessionState): number {
    return session.get<number>('count') ?? 0;
  }

  /** Read-write: the session's lock for this message. Without a session cookie, a clear error (a message cannot set one). */
  @SubscribeMessage('increment')
  increment(@Session() session: HttpSessionState): number {
    const count = (session.get<number>('count') ?? 0) + 1;
    session.set('count', count);
    return count;
  }
}
