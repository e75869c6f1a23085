/** One finished operation, as a limit algorithm sees it. */
export interface LimitSample {
  /** Service time in milliseconds, queue wait excluded. */
  rttMs: number;
  /** Operations in flight when this one started (itself included). */
  inflight: number;
  /** True when the operation failed from overload: a timeout or a shed. */
  dropped: boolean;
  /** Monotonic time of the sample, milliseconds. */
  nowMs: number;
}

/**
 * Turns samples into a concurrency limit. Pure: no timers, no I/O; the pool
 * enforces the limit it returns.
 */
export interface LimitAlgorithm {
  readonly limit: number;
  /** Records a sample and returns the (possibly new) limit. */
  onSample(sample: LimitSample): number;
}

export interface LimitBounds {
  /** Floor, default 1. */
  minLimit?: number;
  /** Hard ceiling. */
  maxLimit: number;
  initialLimit?: number;
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
