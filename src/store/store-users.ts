/**
 * The applications using one store object. A store is often made once, where a static module is
 * declared (`forRoot({ store: new RedisSessionStateStore({ url }) })`), and then every application
 * built from that module shares it: an e2e suite's application per test, two applications at once.
 * Nest runs the store's `onModuleInit` and `onApplicationShutdown` once per application; counted
 * here, only the last application to leave closes the store, and the next `onModuleInit` reopens it.
 */
export class StoreUsers {
  private count = 0;

  /** One application more (counted before its init is awaited, so that a close meanwhile sees it). */
  join(): void {
    this.count++;
  }

  /**
   * One application less: whether the store is now unused and is to be closed (also when nobody
   * joined: a store shut down by Nest without its init, as a compiled-only testing module is).
   */
  leave(): boolean {
    if (this.count > 0) this.count--;
    return this.count === 0;
  }

  /** Whether the next `leave()` closes the store. */
  isLast(): boolean {
    return this.count <= 1;
  }
}
