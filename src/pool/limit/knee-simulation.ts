import type { LimitAlgorithm } from "./limit-algorithm.js";

export interface KneeSimulationConfig {
  /** Concurrency at which the database's throughput stops rising. */
  knee: number;
  /** Service time of one operation below the knee, ms. */
  baseRttMs: number;
  /** Virtual time simulated, ms. */
  durationMs: number;
  /** RTT noise, as a fraction (uniform ±). Default 0.05. */
  noise?: number;
  /** Seeded randomness for repeatable runs. */
  seed?: number;
}

export interface KneeSimulationResult {
  /** Limit sampled every 10 ms of virtual time. */
  trace: { tMs: number; limit: number }[];
  /** Mean limit over the second half. */
  steadyLimit: number;
  /** Half the spread of the limit over the second half, relative to its mean. */
  oscillation: number;
  /** First time after which the limit stays within ±15% of the steady mean, ms. */
  convergeMs: number;
  /** Throughput over the second half relative to the database's maximum. */
  throughputRatio: number;
}

/**
 * A database whose throughput rises with concurrency up to a knee and is
 * flat beyond it (extra operations only queue inside it), driven by a pool
 * that always has waiters: the limit is the concurrency.
 */
export function simulateKnee(
  algorithm: LimitAlgorithm,
  config: KneeSimulationConfig,
): KneeSimulationResult {
  const { knee, baseRttMs, durationMs } = config;
  const noise = config.noise ?? 0.05;
  let seed = config.seed ?? 42;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const stepMs = 0.25;
  const trace: { tMs: number; limit: number }[] = [];
  let owed = 0;
  let completedSecondHalf = 0;
  for (let t = 0; t < durationMs; t += stepMs) {
    const inflight = Math.max(1, Math.floor(algorithm.limit));
    const rtt = baseRttMs * Math.max(1, inflight / knee);
    owed += (inflight / rtt) * stepMs;
    while (owed >= 1) {
      owed -= 1;
      if (t >= durationMs / 2) completedSecondHalf++;
      const sampleRtt = rtt * (1 - noise + 2 * noise * random());
      algorithm.onSample({ rttMs: sampleRtt, inflight, dropped: false, nowMs: t });
    }
    if (t % 10 === 0) trace.push({ tMs: t, limit: algorithm.limit });
  }
  const second = trace.filter((p) => p.tMs >= durationMs / 2).map((p) => p.limit);
  const steadyLimit = second.reduce((a, b) => a + b, 0) / second.length;
  const spread = (Math.max(...second) - Math.min(...second)) / 2;
  let convergeMs = 0;
  for (const p of trace) {
    if (Math.abs(p.limit - steadyLimit) > 0.15 * steadyLimit) convergeMs = p.tMs + 10;
  }
  const maxThroughput = (knee / baseRttMs) * (durationMs / 2);
  return {
    trace,
    steadyLimit,
    oscillation: spread / steadyLimit,
    convergeMs,
    throughputRatio: completedSecondHalf / maxThroughput,
  };
}
