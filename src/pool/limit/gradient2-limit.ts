import {
  clamp,
  type LimitAlgorithm,
  type LimitBounds,
  type LimitSample,
} from "./limit-algorithm.js";

export interface Gradient2Config extends LimitBounds {
  /** Tolerated ratio of short-term to long-term RTT before shrinking. Default 1.5. */
  rttTolerance?: number;
  /** Samples in the long-term RTT average. Default 600. */
  longWindow?: number;
  /** Samples in one short-term window. Default 10. */
  shortWindow?: number;
  /** Extra headroom added each update (queueSize). Default 4. */
  queueSize?: number;
  /** Weight of a new limit (smoothing). Default 0.2. */
  smoothing?: number;
}

/**
 * Netflix Gradient2: compares a short window's RTT with a long-run average;
 * while they agree the limit grows by `queueSize`, when recent RTT climbs
 * the gradient (< 1) pulls the limit down. Drops halve the gradient.
 */
export class Gradient2Limit implements LimitAlgorithm {
  #limit: number;
  readonly #min: number;
  readonly #max: number;
  readonly #tolerance: number;
  readonly #longAlpha: number;
  readonly #shortWindow: number;
  readonly #queueSize: number;
  readonly #smoothing: number;
  #longRttMs = 0;
  #longSamples = 0;
  #shortSum = 0;
  #shortCount = 0;
  #shortMaxInflight = 0;
  #shortDropped = false;

  constructor(config: Gradient2Config) {
    this.#min = config.minLimit ?? 1;
    this.#max = config.maxLimit;
    this.#limit = clamp(config.initialLimit ?? Math.max(this.#min, 4), this.#min, this.#max);
    this.#tolerance = config.rttTolerance ?? 1.5;
    this.#longAlpha = 2 / ((config.longWindow ?? 600) + 1);
    this.#shortWindow = config.shortWindow ?? 10;
    this.#queueSize = config.queueSize ?? 4;
    this.#smoothing = config.smoothing ?? 0.2;
  }

  get limit(): number {
    return this.#limit;
  }

  onSample({ rttMs, inflight, dropped }: LimitSample): number {
    this.#shortSum += rttMs;
    this.#shortCount++;
    this.#shortMaxInflight = Math.max(this.#shortMaxInflight, inflight);
    this.#shortDropped ||= dropped;
    if (this.#shortCount < this.#shortWindow) return this.#limit;

    const shortRtt = this.#shortSum / this.#shortCount;
    const maxInflight = this.#shortMaxInflight;
    const anyDrop = this.#shortDropped;
    this.#shortSum = 0;
    this.#shortCount = 0;
    this.#shortMaxInflight = 0;
    this.#shortDropped = false;

    // Long-term average: warm up with a plain mean, then exponential.
    this.#longSamples++;
    const alpha = this.#longSamples < 1 / this.#longAlpha ? 1 / this.#longSamples : this.#longAlpha;
    this.#longRttMs = this.#longRttMs + alpha * (shortRtt - this.#longRttMs);
    // After a slow period the long average lags high: let it recover.
    if (this.#longRttMs / shortRtt > 2) this.#longRttMs *= 0.95;

    // An idle pool teaches nothing.
    if (maxInflight < this.#limit / 2 && !anyDrop) return this.#limit;

    let gradient = clamp((this.#tolerance * this.#longRttMs) / shortRtt, 0.5, 1);
    if (anyDrop) gradient = 0.5;
    const target = this.#limit * gradient + this.#queueSize;
    const next = (1 - this.#smoothing) * this.#limit + this.#smoothing * target;
    this.#limit = clamp(next, this.#min, this.#max);
    return this.limit;
  }
}
