/**
 * Named gates a test controller can park a handler on, so tests order concurrent requests by
 * events instead of by sleeping: `arrived(name)` resolves when a handler reaches `pass(name)`,
 * which resolves when the test calls `open(name)`.
 */
export class Gates {
  private readonly arrivals = new Map<string, Deferred>();
  private readonly openings = new Map<string, Deferred>();

  async pass(name: string): Promise<void> {
    this.deferred(this.arrivals, name).resolve();
    await this.deferred(this.openings, name).promise;
  }

  arrived(name: string): Promise<void> {
    return this.deferred(this.arrivals, name).promise;
  }

  open(name: string): void {
    this.deferred(this.openings, name).resolve();
  }

  /** Opens every gate a handler reached, so a failed test does not leave handlers (and app.close()) hanging. */
  openAll(): void {
    for (const name of this.arrivals.keys()) this.open(name);
  }

  private deferred(map: Map<string, Deferred>, name: string): Deferred {
    let d = map.get(name);
    if (!d) map.set(name, (d = deferred()));
    return d;
  }
}

/**
 * An Express middleware that parks a request whose `x-gate` header names a gate until the test opens
 * it (`gates.arrived(name)` says it is parked); other requests pass.
 */
export function parkNamed(gates: Gates) {
  return (req: { headers: Record<string, string | string[] | undefined> }, _res: unknown, next: () => void): void => {
    const name = req.headers['x-gate'];
    if (typeof name === 'string') void gates.pass(name).then(() => next());
    else next();
  };
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
