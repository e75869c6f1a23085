import {
  clamp,
  type LimitAlgorithm,
  type LimitBounds,
  type LimitSample,
} from "./limit-algorithm.js";

export interface VegasConfig extends LimitBounds {
  /** Samples averaged into one update (noise control). Default 10. */
  windowSamples?: number;
  /**
   * Every this many milliseconds the limit is pinned to the floor for one
   * window to re-measure the no-load RTT (as Envoy does). Default 30 000.
   */
  probeIntervalMs?: number;
}

const log10 = (n: number) => Math.max(1, Math.log10(n));

/**
 * TCP Vegas applied to concurrency (Netflix concurrency-limits), over windows
 * of samples: the queue inside the database is estimated from how far the
 * window's mean RTT sits above the no-load RTT; the limit grows while that
 * queue is short and shrinks when it is long or when operations drop. With a
 * database whose throughput flattens at a knee, it settles a few operations
 * above the knee.
 */
export class VegasLimit implements LimitAlgorithm {
  #limit: number;
  readonly #min: number;
  readonly #max: number;
  readonly #window: number;
  readonly #probeIntervalMs: number;
  #rttMinMs = Number.POSITIVE_INFINITY;
  #sum = 0;
  #count = 0;
  #maxInflight = 0;
  #dropped = false;
  #nextProbeMs: number | undefined;
  #probing: number | undefined;

  constructor(config: VegasConfig) {
    this.#min = config.minLimit ?? 1;
    this.#max = config.maxLimit;
    this.#limit = clamp(config.initialLimit ?? Math.max(2, this.#min), this.#min, this.#max);
    this.#window = config.windowSamples ?? 10;
    this.#probeIntervalMs = config.probeIntervalMs ?? 30_000;
  }

  get limit(): number {
    return this.#probing === undefined ? this.#limit : this.#min;
  }

  onSample({ rttMs, inflight, dropped, nowMs }: LimitSample): number {
    this.#sum += rttMs;
    this.#count++;
    this.#maxInflight = Math.max(this.#maxInflight, inflight);
    this.#dropped ||= dropped;
    if (this.#count < this.#window) return this.limit;
    const rtt = this.#sum / this.#count;
    const maxInflight = this.#maxInflight;
    const anyDrop = this.#dropped;
    this.#sum = 0;
    this.#count = 0;
    this.#maxInflight = 0;
    this.#dropped = false;
    this.#nextProbeMs ??= nowMs + this.#probeIntervalMs;

    if (this.#probing !== undefined) {
      // The window ran at the floor: its RTT is the no-load RTT.
      this.#rttMinMs = rtt;
      this.#limit = this.#probing;
      this.#probing = undefined;
      this.#nextProbeMs = nowMs + this.#probeIntervalMs;
      return this.limit;
    }
    if (nowMs >= this.#nextProbeMs && this.#limit > this.#min) {
      this.#probing = this.#limit;
      return this.limit;
    }
    if (rtt <= 0) return this.limit;
    this.#rttMinMs = Math.min(this.#rttMinMs, rtt);

    const l = this.#limit;
    const step = log10(l);
    let next = l;
    if (anyDrop) {
      next = l - step;
    } else if (maxInflight * 2 < l) {
      return this.limit; // an idle pool teaches nothing
    } else {
      const queue = l * (1 - this.#rttMinMs / rtt);
      if (queue <= step) next = l + 3 * step;
      else if (queue < 3 * step) next = l + step;
      else if (queue > 6 * step) next = l - step;
    }
    this.#limit = clamp(next, this.#min, this.#max);
    return this.limit;
  }
}
