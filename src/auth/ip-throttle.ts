import { LRUCache } from "lru-cache";
import { SpillwayError } from "../errors/index.js";
import { type Clock, systemClock } from "../util/index.js";

export interface IpThrottleConfig {
  /** Attempts allowed at once. */
  burst: number;
  /** Attempts regained per second. */
  refillPerSecond: number;
  /** Addresses tracked at most (least recently seen forgotten first). */
  maxAddresses?: number;
  clock?: Clock;
}

/** The bucket of callers without a known address; no address has this form. */
const unknownAddress = "unknown";

interface Bucket {
  tokens: number;
  atMs: number;
}

/**
 * A token bucket per client address: credential attempts, and session
 * lookups that find nothing.
 */
export class IpThrottle {
  readonly #config: IpThrottleConfig;
  readonly #clock: Clock;
  readonly #buckets: LRUCache<string, Bucket>;
  #refused = 0;

  constructor(config: IpThrottleConfig) {
    this.#config = config;
    this.#clock = config.clock ?? systemClock;
    this.#buckets = new LRUCache({ max: config.maxAddresses ?? 100_000 });
  }

  /** Attempts refused since start. */
  get refused(): number {
    return this.#refused;
  }

  /**
   * Takes one attempt for `ip`, or throws AUTH_RATE_LIMITED with the wait.
   * Callers whose address is unknown (null) share one bucket.
   */
  take(ip: string | null): void {
    const { refillPerSecond } = this.#config;
    const now = this.#clock.now();
    const key = ip ?? unknownAddress;
    const tokens = this.#tokens(key, now);
    if (tokens < 1) {
      this.#refused++;
      this.#buckets.set(key, { tokens, atMs: now });
      throw new SpillwayError("AUTH_RATE_LIMITED", {
        retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / refillPerSecond)),
      });
    }
    this.#buckets.set(key, { tokens: tokens - 1, atMs: now });
  }

  /** Gives back an attempt taken for `ip`: it turned out to be one that is not counted. */
  refund(ip: string | null): void {
    const now = this.#clock.now();
    const key = ip ?? unknownAddress;
    this.#buckets.set(key, {
      tokens: Math.min(this.#config.burst, this.#tokens(key, now) + 1),
      atMs: now,
    });
  }

  #tokens(key: string, now: number): number {
    const { burst, refillPerSecond } = this.#config;
    const bucket = this.#buckets.get(key);
    if (!bucket) return burst;
    return Math.min(burst, bucket.tokens + ((now - bucket.atMs) / 1000) * refillPerSecond);
  }
}
