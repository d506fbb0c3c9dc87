import { connect } from 'node:net';

/** Whether something answers on 127.0.0.1:`port` (a start script refuses a port already taken). */
export const portOpen = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => (socket.end(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
