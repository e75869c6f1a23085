/**
 * Pool benchmark: what the adaptive pool's machinery costs per operation
 * against pg.Pool in the same run (both over the same no-op connection, so
 * only the pools are measured), its acquire latency at 10k ops/s, and the
 * control loop against a simulated database with a throughput knee.
 */
import { EventEmitter } from "node:events";
import pg from "pg";
import type { PhysicalConnection } from "../src/pool/index.js";
import { AdaptivePool, FixedLimit, VegasLimit } from "../src/pool/index.js";
import { simulateKnee } from "../src/pool/limit/knee-simulation.js";
import { goal, report, round } from "./support/results.js";

const ops = Number(process.env.BENCH_POOL_OPS ?? 200_000);
const concurrency = 8;

/** A connection that answers at once: the pool is all that is measured. */
class NoopClient extends EventEmitter {
  connect(callback?: (err?: Error) => void) {
    if (callback) process.nextTick(callback);
    return Promise.resolve();
  }
  query() {
    return Promise.resolve({ rows: [], rowCount: 0, command: "SELECT" });
  }
  end(callback?: () => void) {
    if (callback) process.nextTick(callback);
    return Promise.resolve();
  }
}
const noopConnection = (): PhysicalConnection => ({
  query: async () => ({ rows: [], rowCount: 0, command: "SELECT" }),
  cancel: () => {},
  end: async () => {},
  onBroken: () => {},
});

interface Acquirer {
  connect(): Promise<{ release(): void }>;
}

/** Nanoseconds per acquire+release, `concurrency` loops sharing `ops`. */
async function perOp(pool: Acquirer): Promise<number> {
  let left = ops;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) (await pool.connect()).release();
    }),
  );
  return Number(process.hrtime.bigint() - started) / ops;
}

/** Acquire latencies at a paced 10k ops/s for `seconds`, µs. */
async function pacedLatencies(pool: Acquirer, seconds: number): Promise<number[]> {
  const latencies: number[] = [];
  const perMs = 10;
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const tickStart = performance.now();
    for (let i = 0; i < perMs; i++) {
      const t0 = performance.now();
      void pool.connect().then((client) => {
        latencies.push((performance.now() - t0) * 1000);
        setImmediate(() => client.release());
      });
    }
    const spent = performance.now() - tickStart;
    await new Promise((r) => setTimeout(r, Math.max(0, 1 - spent)));
  }
  await new Promise((r) => setTimeout(r, 50));
  return latencies;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

const pgPool = new pg.Pool({ max: 10, Client: NoopClient as unknown as typeof pg.Client });
const adaptive = new AdaptivePool({
  connector: async () => noopConnection(),
  maxConnections: 10,
  minConnections: 10,
  limit: new FixedLimit(10),
  leakThresholdMs: 0,
});
const adaptiveDefault = new AdaptivePool({
  connector: async () => noopConnection(),
  maxConnections: 10,
  minConnections: 10,
  leakThresholdMs: 0,
});
await new Promise((r) => setTimeout(r, 100));

// Warm up both, then alternate to share the machine's noise fairly.
await perOp(pgPool);
await perOp(adaptive);
const rounds: { pgPoolNs: number; adaptiveNs: number; adaptiveVegasNs: number }[] = [];
for (let i = 0; i < 3; i++) {
  rounds.push({
    pgPoolNs: await perOp(pgPool),
    adaptiveNs: await perOp(adaptive),
    adaptiveVegasNs: await perOp(adaptiveDefault),
  });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const pgPoolNs = median(rounds.map((r) => r.pgPoolNs));
const adaptiveNs = median(rounds.map((r) => r.adaptiveVegasNs));

const pgLatency = await pacedLatencies(pgPool, 3);
const ourLatency = await pacedLatencies(adaptiveDefault, 3);

const knee = simulateKnee(new VegasLimit({ minLimit: 2, maxLimit: 200, initialLimit: 4 }), {
  knee: 20,
  baseRttMs: 5,
  durationMs: 10_000,
});

await pgPool.end();
await adaptive.end();
await adaptiveDefault.end();

report(
  "pool",
  [
    goal(
      "acquire-overhead-ratio",
      "AdaptivePool acquire+release ns/op ÷ pg.Pool's (same no-op connection, same run)",
      adaptiveNs / pgPoolNs,
      "<=",
      1.5,
    ),
    goal(
      "acquire-p99-us-at-10k",
      "AdaptivePool acquire p99 at a paced 10k ops/s, µs",
      percentile(ourLatency, 99),
      "<=",
      50,
    ),
    goal(
      "knee-converge-s",
      "Vegas: virtual seconds until the limit stays within ±15% (knee 20, 5 ms)",
      knee.convergeMs / 1000,
      "<=",
      3,
    ),
    goal(
      "knee-oscillation",
      "Vegas: steady-state half-spread ÷ mean limit",
      knee.oscillation,
      "<",
      0.15,
    ),
  ],
  {
    ops,
    concurrency,
    rounds: rounds.map((r) => ({
      pgPoolNs: round(r.pgPoolNs, 0),
      adaptiveFixedNs: round(r.adaptiveNs, 0),
      adaptiveVegasNs: round(r.adaptiveVegasNs, 0),
    })),
    pacedAcquireUs: {
      pgPool: {
        p50: round(percentile(pgLatency, 50), 1),
        p99: round(percentile(pgLatency, 99), 1),
        samples: pgLatency.length,
      },
      adaptive: {
        p50: round(percentile(ourLatency, 50), 1),
        p99: round(percentile(ourLatency, 99), 1),
        samples: ourLatency.length,
      },
    },
    knee: {
      knee: 20,
      steadyLimit: round(knee.steadyLimit, 1),
      throughputRatio: round(knee.throughputRatio),
      convergeMs: knee.convergeMs,
    },
  },
);
