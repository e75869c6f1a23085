import {
  clamp,
  type LimitAlgorithm,
  type LimitBounds,
  type LimitSample,
} from "./limit-algorithm.js";

export interface AimdConfig extends LimitBounds {
  /** A sample slower than this counts as a drop. Default 5000 ms. */
  timeoutMs?: number;
  /** Multiplier on a drop. Default 0.9. */
  backoffRatio?: number;
}

/** Additive increase while the limit is in use, multiplicative decrease on drops. */
export class AimdLimit implements LimitAlgorithm {
  #limit: number;
  readonly #min: number;
  readonly #max: number;
  readonly #timeoutMs: number;
  readonly #backoff: number;

  constructor(config: AimdConfig) {
    this.#min = config.minLimit ?? 1;
    this.#max = config.maxLimit;
    this.#limit = clamp(config.initialLimit ?? this.#min, this.#min, this.#max);
    this.#timeoutMs = config.timeoutMs ?? 5000;
    this.#backoff = config.backoffRatio ?? 0.9;
  }

  get limit(): number {
    return this.#limit;
  }

  onSample({ rttMs, inflight, dropped }: LimitSample): number {
    if (dropped || rttMs > this.#timeoutMs) {
      this.#limit = clamp(Math.floor(this.#limit * this.#backoff), this.#min, this.#max);
    } else if (inflight * 2 >= this.#limit) {
      this.#limit = clamp(this.#limit + 1, this.#min, this.#max);
    }
    return this.#limit;
  }
}
