/**
 * Locks this store could not release because Redis was unreachable (a release that failed, or a
 * lock command that got no answer and whose settling release failed too). With persistence (AOF,
 * RDB) such a lock outlives the outage, and the session would stay locked until it turns stale
 * (`executionTimeout`, 110 s by default). These are released again once Redis answers: tried every
 * `intervalMs` while any are pending, each for at most `keepMs` (after that the stale-lock breaker
 * covers it), at most `limit` at once (the oldest are dropped first).
 */
export class RedisPendingReleases {
  private readonly pending = new Map<string, { id: string; lockId: string; until: number }>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    /** Releases `lockId` of `id`; resolves whether the lock is settled (released, or no longer held by it); rejects while Redis is unreachable. */
    private readonly release: (id: string, lockId: string) => Promise<unknown>,
    private readonly intervalMs = 500,
    private readonly keepMs = 120_000,
    private readonly limit = 10_000,
  ) {}

  add(id: string, lockId: string): void {
    if (this.pending.size >= this.limit) this.pending.delete(this.pending.keys().next().value!);
    this.pending.set(lockId, { id, lockId, until: Date.now() + this.keepMs });
    this.timer ??= setInterval(() => void this.retry(), this.intervalMs).unref();
  }

  get size(): number {
    return this.pending.size;
  }

  /**
   * At close: one last attempt at each pending release (bounded by the release's own timeout; it
   * stops at the first failure, Redis being unreachable), then none is kept. Answers how many were left.
   */
  async flush(): Promise<number> {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const entry of Array.from(this.pending.values())) {
      try {
        await this.release(entry.id, entry.lockId);
        this.pending.delete(entry.lockId);
      } catch {
        break;
      }
    }
    const left = this.pending.size;
    this.close();
    return left;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private async retry(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const now = Date.now();
      for (const entry of Array.from(this.pending.values())) {
        if (entry.until <= now) {
          this.pending.delete(entry.lockId);
          continue;
        }
        try {
          await this.release(entry.id, entry.lockId);
          this.pending.delete(entry.lockId);
        } catch {
          break; // still unreachable: try again at the next tick
        }
      }
    } finally {
      this.running = false;
      if (this.pending.size === 0) this.close();
    }
  }
}
