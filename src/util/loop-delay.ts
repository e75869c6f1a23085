import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";

/**
 * The event loop's delay, in ms. Node's monitor times a timer that fires
 * every `resolutionMs` and records the whole interval: an idle loop reads
 * about `resolutionMs`, not 0. This subtracts it.
 */
export class LoopDelay {
  readonly #histogram: IntervalHistogram;
  readonly #resolutionMs: number;

  constructor(resolutionMs = 10) {
    this.#resolutionMs = resolutionMs;
    this.#histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    this.#histogram.enable();
  }

  /** The q-th percentile (0-100) of the delay since the last reset, ms. */
  percentileMs(q: number): number {
    if (this.#histogram.count === 0) return 0;
    return Math.max(0, this.#histogram.percentile(q) / 1e6 - this.#resolutionMs);
  }

  reset(): void {
    this.#histogram.reset();
  }

  stop(): void {
    this.#histogram.disable();
  }
}
