/**
 * Operations still running, across the accounts and sessions services: a
 * client that hung up does not stop its operation, and shutdown waits for
 * them before it closes the pool.
 */
export class InFlight {
  #count = 0;
  #idle: (() => void)[] = [];

  /** Resolves once no operation is running. */
  drain(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Runs `operation`, counted until it settles. */
  async track<T>(operation: () => Promise<T>): Promise<T> {
    this.#count++;
    try {
      return await operation();
    } finally {
      if (--this.#count === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }
}
