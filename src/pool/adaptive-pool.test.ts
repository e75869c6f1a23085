import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { isSpillwayError, SpillwayError } from "../errors/index.js";
import { AdaptivePool, type AdaptivePoolConfig } from "./adaptive-pool.js";
import { FixedLimit } from "./limit/index.js";
import type { PhysicalConnection, QueryConfig, QueryResultLike } from "./types.js";

/** A database of fakes: connections that take time to open and queries that take time to run. */
class FakeDatabase {
  up = true;
  full = false;
  connectMs = 5;
  queryMs = 2;
  opened = 0;
  readonly open = new Set<FakeConnection>();

  connector = (): Promise<PhysicalConnection> =>
    new Promise((resolve, reject) => {
      setTimeout(() => {
        if (!this.up) return reject(new SpillwayError("DB_UNAVAILABLE"));
        if (this.full) return reject(new SpillwayError("DB_CONNECTION_LIMIT"));
        const conn = new FakeConnection(this);
        this.open.add(conn);
        this.opened++;
        resolve(conn);
      }, this.connectMs);
    });

  stop(): void {
    this.up = false;
    for (const conn of [...this.open]) conn.breakNow();
  }
}

class FakeConnection implements PhysicalConnection {
  #broken: ((err: Error) => void) | undefined;
  constructor(readonly db: FakeDatabase) {}
  query<R>(q: QueryConfig): Promise<QueryResultLike<R>> {
    return new Promise((resolve, reject) => {
      if (!this.db.up) return reject(new SpillwayError("DB_UNAVAILABLE"));
      const ms = typeof q.values?.[0] === "number" ? (q.values[0] as number) : this.db.queryMs;
      setTimeout(
        () => resolve({ rows: [{ text: q.text } as R], rowCount: 1, command: "SELECT" }),
        ms,
      );
    });
  }
  cancel(): void {}
  async end(): Promise<void> {
    this.db.open.delete(this);
  }
  onBroken(listener: (err: Error) => void): void {
    this.#broken = listener;
  }
  breakNow(): void {
    this.db.open.delete(this);
    this.#broken?.(new Error("terminating connection due to administrator command"));
  }
}

let db: FakeDatabase;
const pools: AdaptivePool[] = [];
function pool(config: AdaptivePoolConfig = {}): AdaptivePool {
  const p = new AdaptivePool({
    connector: db.connector,
    clock: { now: () => Date.now() },
    leakThresholdMs: 0,
    ...config,
  });
  pools.push(p);
  return p;
}
/** One connection and no critical reserve: a held query makes the next one wait. */
function onePool(config: AdaptivePoolConfig = {}): AdaptivePool {
  return pool({
    minConnections: 1,
    maxConnections: 1,
    criticalReserve: 0,
    limit: new FixedLimit(1),
    ...config,
  });
}
const settle = async (ms: number) => {
  await vi.advanceTimersByTimeAsync(ms);
};

beforeEach(() => {
  vi.useFakeTimers();
  db = new FakeDatabase();
});
afterEach(async () => {
  for (const p of pools.splice(0)) {
    const ending = p.end();
    await vi.advanceTimersByTimeAsync(20_000);
    await ending;
  }
  vi.useRealTimers();
});

describe("AdaptivePool", () => {
  it("opens connections in the background and serves queries through them", async () => {
    const p = pool({ minConnections: 2, maxConnections: 5 });
    await settle(10);
    expect(p.totalCount).toBe(2);
    const result = p.query("SELECT 1");
    await settle(5);
    expect((await result).rows).toEqual([{ text: "SELECT 1" }]);
    expect(p.inUse).toBe(0);
  });

  it("waits on the pool, not on handshakes: a burst needs few connections", async () => {
    // HikariCP's spike test: slow handshakes, fast queries, many clients.
    db.connectMs = 150;
    db.queryMs = 2;
    const p = pool({
      minConnections: 1,
      maxConnections: 50,
      limit: new FixedLimit(50),
      acquireTimeoutMs: 5000,
    });
    await settle(200);
    const burst = Array.from({ length: 50 }, () => p.query("SELECT 1"));
    await settle(1000);
    const results = await Promise.allSettled(burst);
    expect(results.every((r) => r.status === "fulfilled")).toBe(true);
    // Connections already open served the burst long before new handshakes could complete.
    expect(db.opened).toBeLessThanOrEqual(4);
  });

  it("serves lanes by priority: critical, then interactive, then bulk", async () => {
    const p = onePool();
    await settle(10);
    const order: string[] = [];
    const first = p.query("hold", [50]);
    const track = (lane: "bulk" | "interactive" | "critical") =>
      p.query(lane, { lane }).then(() => order.push(lane));
    const waits = [track("bulk"), track("interactive"), track("critical")];
    await settle(200);
    await Promise.all([first, ...waits]);
    expect(order).toEqual(["critical", "interactive", "bulk"]);
  });

  it("keeps a reserved permit that only the critical lane may use", async () => {
    const p = pool({
      minConnections: 3,
      maxConnections: 3,
      criticalReserve: 1,
      limit: new FixedLimit(3),
      overloadWaitMs: 10_000,
    });
    await settle(30);
    expect(p.totalCount).toBe(3);
    const a = p.query("a", [100]);
    const b = p.query("b", [100]);
    const c = p.query("c", [100]); // interactive: waits, the third permit is reserved
    await settle(1);
    expect(p.inUse).toBe(2);
    const health = p.query("health", [50], { lane: "critical" });
    await settle(1);
    expect(p.inUse).toBe(3);
    await settle(300);
    await Promise.all([a, b, c, health]);
  });

  it("times out a waiter at its deadline with POOL_ACQUIRE_TIMEOUT and Retry-After", async () => {
    const p = onePool({
      acquireTimeoutMs: 100,
      overloadWaitMs: 10_000,
    });
    await settle(10);
    const hold = p.query("hold", [1000]);
    const late = p.query("late").catch((err: unknown) => err);
    await settle(101);
    const err = await late;
    expect(isSpillwayError(err, "POOL_ACQUIRE_TIMEOUT")).toBe(true);
    expect((err as SpillwayError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(p.waitingCount).toBe(0);
    await settle(1000);
    await hold;
  });

  it("gives up a wait when the caller's signal aborts", async () => {
    const p = onePool();
    await settle(10);
    const hold = p.query("hold", [500]);
    const controller = new AbortController();
    const waiting = p.query("w", { signal: controller.signal }).catch((err: unknown) => err);
    await settle(5);
    controller.abort();
    await settle(0);
    expect(isSpillwayError(await waiting, "POOL_ACQUIRE_TIMEOUT")).toBe(true);
    await settle(500);
    await hold;
  });

  it("sheds at once when the queue is full, lowest lane first", async () => {
    const p = onePool({
      queueMax: 2,
      overloadWaitMs: 10_000,
    });
    await settle(10);
    const hold = p.query("hold", [100]);
    const bulk = p.query("bulk", { lane: "bulk" }).catch((err: unknown) => err);
    const i1 = p.query("i1");
    const i2 = p.query("i2"); // queue full: the bulk waiter makes room
    expect(isSpillwayError(await bulk, "POOL_SATURATED")).toBe(true);
    const i3 = await p.query("i3").catch((err: unknown) => err); // same lane as the oldest: this one is shed
    expect(isSpillwayError(i3, "POOL_SATURATED")).toBe(true);
    expect(p.stats.shed).toBe(2);
    await settle(200);
    await Promise.all([hold, i1, i2]);
  });

  it("detects a standing queue (CoDel), serves newest first and sheds old waiters", async () => {
    const p = onePool({
      queueTargetMs: 5,
      queueIntervalMs: 20,
      overloadWaitMs: 500,
      acquireTimeoutMs: 10_000,
      queueMax: 100,
    });
    await settle(10);
    const served: number[] = [];
    const all: Promise<unknown>[] = [];
    // Offer 2x what the database serves, for a while.
    for (let i = 0; i < 60; i++) {
      all.push(
        p.query("q", [10]).then(
          () => served.push(i),
          () => undefined,
        ),
      );
      all.push(
        p.query("q", [10]).then(
          () => served.push(1000 + i),
          () => undefined,
        ),
      );
      await settle(10);
    }
    await settle(5000);
    await Promise.all(all);
    // Late in the run, later arrivals overtake earlier ones (newest first).
    const late = served.slice(-20);
    const inversions = late.filter(
      (v, i) => i > 0 && v % 1000 < (late[i - 1] as number) % 1000,
    ).length;
    expect(inversions).toBeGreaterThan(0);
    expect(p.stats.shed).toBeGreaterThan(0);
  });

  it("fails fast with DB_UNAVAILABLE while the database is down, and recovers by itself", async () => {
    const p = pool({ minConnections: 2, maxConnections: 4 });
    await settle(20);
    db.stop();
    await settle(20);
    const started = Date.now();
    const err = await p.query("x").catch((e: unknown) => e);
    expect(isSpillwayError(err, "DB_UNAVAILABLE")).toBe(true);
    expect(Date.now() - started).toBeLessThan(50);
    expect(p.circuitOpen).toBe(true);
    await settle(3000);
    db.up = true;
    await settle(1500);
    expect(p.circuitOpen).toBe(false);
    const ok = p.query("y");
    await settle(10);
    await expect(ok).resolves.toBeDefined();
    expect(p.totalCount).toBe(db.open.size);
  });

  it("treats 'too many connections' as backpressure: the cap shrinks, the service goes on", async () => {
    const p = pool({ minConnections: 1, maxConnections: 8, limit: new FixedLimit(8) });
    await settle(10);
    db.full = true;
    const queries = Array.from({ length: 6 }, () => p.query("q", [5]));
    await settle(500);
    await Promise.all(queries);
    expect(p.hardCap).toBe(1);
    expect(p.circuitOpen).toBe(false);
  });

  it("never holds more connections than the hard cap, even while it is lowered", async () => {
    const p = pool({
      minConnections: 1,
      maxConnections: 6,
      limit: new FixedLimit(6),
      overloadWaitMs: 10_000,
    });
    let peak = 0;
    p.on("connect", () => {
      peak = Math.max(peak, db.open.size);
    });
    const queries = Array.from({ length: 20 }, () => p.query("q", [20]));
    await settle(30);
    p.setHardCap(2);
    expect(p.totalCount + p.openingCount).toBeLessThanOrEqual(6);
    await settle(500);
    await Promise.all(queries);
    expect(db.open.size).toBeLessThanOrEqual(2);
    expect(peak).toBeLessThanOrEqual(6);
  });

  it("reports a checkout held too long, with the borrower's stack", async () => {
    const p = pool({ leakThresholdMs: 1000 });
    await settle(10);
    const leaks: { heldMs: number; stack: string }[] = [];
    p.on("leak", (info) => leaks.push(info));
    const client = p.connect();
    await settle(10);
    const c = await client;
    await settle(1001);
    expect(leaks).toHaveLength(1);
    expect(leaks[0]?.stack).toContain("adaptive-pool.test.ts");
    c.release();
    expect(() => c.release()).toThrow(/already been released/);
  });

  it("adapts its limit from round-trip times and announces it", async () => {
    const p = pool({
      minConnections: 2,
      maxConnections: 40,
      acquireTimeoutMs: 10_000,
      overloadWaitMs: 10_000,
    });
    const changes: number[] = [];
    p.on("limit-changed", ({ limit }) => changes.push(limit));
    await settle(10);
    const start = p.limit;
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < 400; i++) all.push(p.query("q", [2]));
    await settle(2000);
    await Promise.all(all);
    expect(changes.length).toBeGreaterThan(0);
    expect(p.limit).toBeGreaterThan(start);
  });
});
