import { hash, parseOptions, verify } from "@node-rs/argon2";
import { SpillwayError } from "../errors/index.js";
import { type Clock, systemClock } from "../util/index.js";

export interface PasswordHasherConfig {
  /** Hashes at once; the core count (more threads fight over memory bandwidth). */
  concurrency: number;
  /** Hashes allowed to wait; beyond it new ones are refused at once. */
  queueMax: number;
  /** Longest wait to start hashing; a hash that cannot start in time is refused at once. */
  queueTimeoutMs: number;
  memoryCostKib: number;
  timeCost: number;
  parallelism: number;
  clock?: Clock;
}

interface Waiter {
  run: () => void;
  fail: (err: SpillwayError) => void;
  timer: NodeJS.Timeout;
}

const argon2id = 2;

/**
 * Argon2id on a bounded queue sized to the cores. Hashing is CPU-bound: more
 * concurrent work only makes every hash slower, so excess is refused fast
 * (HASH_SATURATED, 503 + Retry-After) instead of queueing until timeouts.
 */
export class PasswordHasher {
  readonly #config: PasswordHasherConfig;
  readonly #clock: Clock;
  readonly #queue: Waiter[] = [];
  #running = 0;
  /** Exponential average of one hash's duration; undefined until the first hash. */
  #serviceMs: number | undefined;
  #dummyHash: Promise<string> | undefined;
  #completed = 0;

  constructor(config: PasswordHasherConfig) {
    this.#config = config;
    this.#clock = config.clock ?? systemClock;
  }

  get running(): number {
    return this.#running;
  }
  get waiting(): number {
    return this.#queue.length;
  }
  /** Hashes and verifications finished since start. */
  get completed(): number {
    return this.#completed;
  }
  /** Average milliseconds one hash takes on this machine now. */
  get serviceMs(): number {
    return this.#serviceMs ?? 0;
  }

  hash(password: string, signal?: AbortSignal): Promise<string> {
    return this.#submit(() => hash(password, this.#options()), signal);
  }

  verify(encoded: string, password: string, signal?: AbortSignal): Promise<boolean> {
    return this.#submit(() => verify(encoded, password), signal);
  }

  /**
   * Verifies against a fixed hash of the current parameters: the same work
   * as a real verify, so an unknown email takes as long as a wrong password.
   */
  async verifyDummy(password: string, signal?: AbortSignal): Promise<void> {
    this.#dummyHash ??= hash(`dummy-${Math.random()}`, this.#options());
    await this.verify(await this.#dummyHash, password, signal);
  }

  /** True when a stored hash was made with other parameters than today's. */
  needsRehash(encoded: string): boolean {
    try {
      const used = parseOptions(encoded);
      return (
        used.algorithm !== argon2id ||
        used.memoryCost !== this.#config.memoryCostKib ||
        used.timeCost !== this.#config.timeCost ||
        used.parallelism !== this.#config.parallelism
      );
    } catch {
      return true;
    }
  }

  #options() {
    return {
      algorithm: argon2id,
      memoryCost: this.#config.memoryCostKib,
      timeCost: this.#config.timeCost,
      parallelism: this.#config.parallelism,
    } as const;
  }

  #submit<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const { concurrency, queueMax, queueTimeoutMs } = this.#config;
    if (this.#running < concurrency && this.#queue.length === 0) return this.#run(work);
    // Refuse now what could not start before its deadline anyway.
    const expectedWaitMs = Math.ceil((this.#queue.length + 1) / concurrency) * this.serviceMs;
    if (this.#queue.length >= queueMax || expectedWaitMs > queueTimeoutMs || signal?.aborted) {
      return Promise.reject(this.#saturated());
    }
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        run: () => {
          signal?.removeEventListener("abort", onAbort);
          this.#run(work).then(resolve, reject);
        },
        fail: (err) => {
          signal?.removeEventListener("abort", onAbort);
          reject(err);
        },
        timer: setTimeout(() => this.#drop(waiter), queueTimeoutMs),
      };
      const onAbort = () => this.#drop(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  async #run<T>(work: () => Promise<T>): Promise<T> {
    this.#running++;
    const started = this.#clock.now();
    try {
      return await work();
    } finally {
      const tookMs = this.#clock.now() - started;
      this.#completed++;
      this.#serviceMs =
        this.#serviceMs === undefined ? tookMs : 0.9 * this.#serviceMs + 0.1 * tookMs;
      this.#running--;
      const next = this.#queue.shift();
      if (next) {
        clearTimeout(next.timer);
        next.run();
      }
    }
  }

  #drop(waiter: Waiter): void {
    const index = this.#queue.indexOf(waiter);
    if (index < 0) return;
    this.#queue.splice(index, 1);
    clearTimeout(waiter.timer);
    waiter.fail(this.#saturated());
  }

  #saturated(): SpillwayError {
    const drainSeconds = ((this.#queue.length / this.#config.concurrency) * this.serviceMs) / 1000;
    return new SpillwayError("HASH_SATURATED", {
      retryAfterSeconds: Math.max(1, Math.ceil(drainSeconds)),
    });
  }
}
