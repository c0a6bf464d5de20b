import { type Duck, type DuckOptions, openDuck } from './duck.js';

/**
 * A fixed set of DuckDB instances lent to one user at a time (docs/ARCHITECTURE.md, "Parallel directions"): the
 * evaluations of a run's directions share it, so a 64-direction run holds one DuckDB per two cores of the
 * orchestrator (see evalDuckCount in src/loop/session.ts), not one per direction. Scoring is CPU work in the
 * orchestrator's process: more instances would only add memory (each keeps its own buffers, threads and allocator
 * caches; 64 instances held +261 MB after one join each), never speed. Waiters are served first come, first served.
 *
 * A lease must never be requested while the same caller holds one (a caller that nests leases can wait forever
 * when every instance is lent): the loop takes one per EVALUATE, per canary check and per confirmation run's
 * evaluation, one after the other.
 */
export class DuckPool {
  private readonly free: Duck[];
  private readonly waiting: ((d: Duck) => void)[] = [];
  private closed = false;

  /** @param ducks the instances lent (owned by the pool: {@link close} closes them) */
  constructor(private readonly ducks: readonly Duck[]) {
    if (ducks.length === 0) throw new Error('a DuckDB pool needs at least one instance');
    this.free = [...ducks];
  }

  /**
   * Open `size` in-memory DuckDBs with `threads` threads each and the options of {@link openDuck}.
   * @throws Error when `size` is not a positive whole number, or DuckDB cannot open (those already open are closed)
   */
  static async open(size: number, threads: number, opts: DuckOptions = {}): Promise<DuckPool> {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`a DuckDB pool needs a positive size, got ${size}`);
    const ducks: Duck[] = [];
    try {
      for (let i = 0; i < size; i++) ducks.push(await openDuck(threads, opts));
    } catch (e) {
      for (const d of ducks) d.close();
      throw e;
    }
    return new DuckPool(ducks);
  }

  /** Instances in the pool. */
  get size(): number {
    return this.ducks.length;
  }

  /** Instances lent now. */
  get lent(): number {
    return this.ducks.length - this.free.length;
  }

  /**
   * Run `f` with an instance of the pool, waiting for one when all are lent; the instance returns to the pool when
   * `f` settles (fulfilled or rejected).
   * @returns what `f` returns
   * @throws Error when the pool is closed; whatever `f` throws
   */
  async use<T>(f: (duck: Duck) => Promise<T>): Promise<T> {
    const duck = await this.acquire();
    try {
      return await f(duck);
    } finally {
      this.release(duck);
    }
  }

  /** Close every instance (lent ones too: close only after every lease settled). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const d of this.ducks) d.close();
  }

  private acquire(): Promise<Duck> {
    if (this.closed) return Promise.reject(new Error('the DuckDB pool is closed'));
    const d = this.free.pop();
    if (d) return Promise.resolve(d);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(d: Duck): void {
    const next = this.waiting.shift();
    if (next) next(d);
    else this.free.push(d);
  }
}
