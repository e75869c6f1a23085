import { describe, expect, it } from "vitest";
import { AimdLimit } from "./aimd-limit.js";
import { FixedLimit } from "./fixed-limit.js";
import { Gradient2Limit } from "./gradient2-limit.js";
import { simulateKnee } from "./knee-simulation.js";
import type { LimitAlgorithm } from "./limit-algorithm.js";
import { VegasLimit } from "./vegas-limit.js";

const feed = (
  algorithm: LimitAlgorithm,
  n: number,
  rttMs: number,
  inflight: number,
  dropped = false,
  startMs = 0,
) => {
  for (let i = 0; i < n; i++) algorithm.onSample({ rttMs, inflight, dropped, nowMs: startMs + i });
  return algorithm.limit;
};

describe("FixedLimit", () => {
  it("never moves", () => {
    const limit = new FixedLimit(10);
    expect(feed(limit, 100, 500, 10, true)).toBe(10);
  });
});

describe("AimdLimit", () => {
  it("grows by one per sample while in use, up to the max", () => {
    const limit = new AimdLimit({ minLimit: 1, maxLimit: 20, initialLimit: 10 });
    expect(feed(limit, 1, 5, 10)).toBe(11);
    expect(feed(limit, 100, 5, 20)).toBe(20);
  });
  it("holds while idle", () => {
    const limit = new AimdLimit({ minLimit: 1, maxLimit: 20, initialLimit: 10 });
    expect(feed(limit, 50, 5, 2)).toBe(10);
  });
  it("backs off multiplicatively on drops and slow samples", () => {
    const limit = new AimdLimit({ minLimit: 2, maxLimit: 100, initialLimit: 50, timeoutMs: 1000 });
    expect(feed(limit, 1, 5, 50, true)).toBe(45);
    expect(feed(limit, 1, 2000, 45)).toBe(40);
    expect(feed(limit, 100, 5, 40, true)).toBe(2);
  });
});

describe("VegasLimit", () => {
  const make = () =>
    new VegasLimit({ minLimit: 2, maxLimit: 200, initialLimit: 20, windowSamples: 10 });

  it("grows while the RTT stays at its minimum", () => {
    const limit = make();
    const before = limit.limit;
    expect(feed(limit, 100, 5, 20)).toBeGreaterThan(before);
  });

  it("shrinks when the RTT rises (a queue forms inside the database)", () => {
    const limit = make();
    feed(limit, 50, 5, 20);
    const grown = limit.limit;
    expect(feed(limit, 100, 20, Math.floor(grown), false, 100)).toBeLessThan(grown);
  });

  it("shrinks on drops", () => {
    const limit = make();
    expect(feed(limit, 50, 5, 20, true)).toBeLessThan(20);
  });

  it("holds while the pool is mostly idle", () => {
    const limit = make();
    feed(limit, 10, 5, 20);
    const after = limit.limit;
    expect(feed(limit, 200, 50, 2, false, 10)).toBe(after);
  });

  it("re-measures the no-load RTT by pinning the floor for one window", () => {
    const limit = new VegasLimit({
      minLimit: 2,
      maxLimit: 200,
      initialLimit: 20,
      windowSamples: 10,
      probeIntervalMs: 1000,
    });
    feed(limit, 10, 5, 20, false, 0);
    const before = limit.limit;
    feed(limit, 10, 5, 20, false, 1500);
    expect(limit.limit).toBe(2);
    feed(limit, 10, 5, 2, false, 1600);
    expect(limit.limit).toBe(before);
  });
});

describe("Gradient2Limit", () => {
  it("shrinks when the short-term RTT climbs above the long-term average", () => {
    const limit = new Gradient2Limit({ minLimit: 2, maxLimit: 200, initialLimit: 50 });
    feed(limit, 600, 5, 50);
    const settled = limit.limit;
    expect(feed(limit, 100, 30, 50)).toBeLessThan(settled);
  });
  it("halves its gradient on drops", () => {
    const limit = new Gradient2Limit({ minLimit: 2, maxLimit: 200, initialLimit: 50 });
    feed(limit, 100, 5, 50);
    const before = limit.limit;
    expect(feed(limit, 10, 5, 50, true)).toBeLessThan(before);
  });
  it("holds while idle", () => {
    const limit = new Gradient2Limit({ minLimit: 2, maxLimit: 200, initialLimit: 50 });
    expect(feed(limit, 100, 5, 3)).toBe(50);
  });
});

describe("knee simulation (database throughput flat beyond 20 concurrent operations)", () => {
  it("the default (Vegas) converges near the knee within 3 s and does not oscillate", () => {
    const result = simulateKnee(new VegasLimit({ minLimit: 2, maxLimit: 200, initialLimit: 4 }), {
      knee: 20,
      baseRttMs: 5,
      durationMs: 10_000,
    });
    expect(result.convergeMs).toBeLessThanOrEqual(3000);
    expect(result.oscillation).toBeLessThan(0.15);
    expect(result.steadyLimit).toBeGreaterThanOrEqual(20);
    expect(result.steadyLimit).toBeLessThanOrEqual(30);
    expect(result.throughputRatio).toBeGreaterThan(0.95);
  });

  it("a fixed limit below the knee wastes the database; AIMD without drops runs away to its max", () => {
    expect(
      simulateKnee(new FixedLimit(10), { knee: 20, baseRttMs: 5, durationMs: 2000 })
        .throughputRatio,
    ).toBeLessThan(0.55);
    const aimd = simulateKnee(new AimdLimit({ maxLimit: 200, initialLimit: 4 }), {
      knee: 20,
      baseRttMs: 5,
      durationMs: 2000,
    });
    expect(aimd.steadyLimit).toBeGreaterThan(150);
  });
});
