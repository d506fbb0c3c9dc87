// How the start scripts stop: every SIGINT, SIGTERM and SIGHUP (a closed terminal) is handled from
// now on. The first stops the app, then the server (the app first: it releases its locks and closes its
// client); another one (an impatient second Ctrl-C while the app waits for in-flight requests) kills both
// at once and exits when they are gone. A signal left to its default would kill the script alone, and a
// server in a process group of its own would keep running and hold its port (review R40, R41).
export function stopOnSignals(server) {
  let app = null;
  let stopping = false;
  const running = (child) => child !== null && child.exitCode === null && child.signalCode === null;
  const stop = (code) => {
    if (stopping) return;
    stopping = true;
    process.exitCode = code;
    if (running(app)) {
      app.once('exit', () => server.kill('SIGTERM'));
      app.kill('SIGTERM');
    } else server.kill('SIGTERM');
  };
  const killNow = () => {
    const children = [app, server].filter(running);
    if (children.length === 0) process.exit(130);
    let left = children.length;
    for (const child of children) {
      child.once('exit', () => --left === 0 && process.exit(130));
      child.kill('SIGKILL');
    }
  };
  const onSignal = () => (stopping ? killNow() : stop(0));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, onSignal);
  return {
    /** Stops as the first signal does, with `code` as the exit code. */
    stop,
    get stopping() {
      return stopping;
    },
    /** The app, once started: stopped first, and its exit stops the script. */
    runApp(child) {
      app = child;
      child.once('exit', (code) => stop(code ?? 0));
    },
  };
}
