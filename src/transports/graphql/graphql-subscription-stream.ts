/**
 * A subscription resolver's event stream that ends with its session: each event, once it arrives and
 * before it goes out, waits for `check` (core/session-liveness.ts); if that rejects, the resolver's
 * stream is closed (`return()`: its pub/sub listener goes) and the stream throws the client's error,
 * which graphql-ws and Mercurius send as the subscription's `error` message, ending it alone (the
 * connection and its other subscriptions go on). Anything but an async iterable passes through.
 */
export function endingWithSession(result: unknown, check: () => Promise<void>, toClientError: (error: unknown) => unknown): unknown {
  if (!isAsyncIterable(result)) return result;
  const source = result[Symbol.asyncIterator]();
  let closed = false;
  const done = (value?: unknown): IteratorResult<unknown> => ({ done: true, value });
  const stream: AsyncIterableIterator<unknown> = {
    async next() {
      if (closed) return done();
      const step = await source.next();
      if (step.done) return step;
      if (closed) return done(); // return() was called meanwhile
      try {
        await check();
      } catch (error) {
        closed = true;
        // Not awaited: a source whose return() never settles must not hold the client's error back.
        if (source.return) source.return().catch(() => {});
        throw toClientError(error);
      }
      return closed ? done() : step; // return() during the check: the consumer has left
    },
    async return(value?: unknown) {
      closed = true;
      return source.return ? source.return(value) : done(value);
    },
    async throw(error?: unknown) {
      closed = true;
      if (source.throw) return source.throw(error);
      if (source.return) await source.return();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return stream;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof (value as { [Symbol.asyncIterator]?: unknown } | null)?.[Symbol.asyncIterator] === 'function';
}
