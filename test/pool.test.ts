import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Generated, Kysely, sql as ksql, PostgresDialect, type PostgresPool } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedDatabase } from "../src/db/index.js";
import { isSpillwayError } from "../src/errors/index.js";
import { AdaptivePool, ConnectionBudget } from "../src/pool/index.js";
import { freePort } from "./support/free-port.js";
import { createTestDatabase, sql } from "./support/test-app.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "spillway-pool-"));
  chmodSync(dir, 0o755);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const backendsSql =
  "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE $1";

/** Server connections whose application_name starts with `prefix`, seen through `db` (a URL: a connection of its own). */
async function backends(db: string | pg.Client, prefix: string): Promise<number> {
  const values = [`${prefix}%`];
  const rows =
    typeof db === "string"
      ? await sql<{ n: number }>(db, backendsSql, values)
      : (await db.query<{ n: number }>(backendsSql, values)).rows;
  return rows[0]?.n ?? 0;
}

describe("AdaptivePool on a real PostgreSQL", () => {
  it("500 concurrent acquires against a small cap resolve or shed within their deadlines", async () => {
    const url = await createTestDatabase();
    const pool = new AdaptivePool({
      connectionString: url,
      maxConnections: 5,
      acquireTimeoutMs: 1000,
      applicationName: "spillway/burst",
    });
    try {
      const started = performance.now();
      const outcomes = await Promise.all(
        Array.from({ length: 500 }, async () => {
          const t0 = performance.now();
          try {
            await pool.query("SELECT pg_sleep(0.01)");
            return { ok: true, ms: performance.now() - t0, code: "" };
          } catch (err) {
            return {
              ok: false,
              ms: performance.now() - t0,
              code: isSpillwayError(err) ? err.code : String(err),
            };
          }
        }),
      );
      expect(performance.now() - started).toBeLessThan(3000);
      const failures = outcomes.filter((o) => !o.ok);
      expect(new Set(failures.map((f) => f.code))).toSatisfy((codes: Set<string>) =>
        [...codes].every((c) => c === "POOL_SATURATED" || c === "POOL_ACQUIRE_TIMEOUT"),
      );
      expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(1000 + 500);
      expect(outcomes.filter((o) => o.ok).length).toBeGreaterThan(0);
      expect(pool.totalCount).toBeLessThanOrEqual(5);
      expect(await backends(url, "spillway/burst")).toBeLessThanOrEqual(5);
    } finally {
      await pool.end();
    }
  });

  it("gives DB_UNAVAILABLE fast while the database is down and serves within 2 s of its restart", async () => {
    const db = new EmbeddedDatabase({ dataDir: join(dir, "restart"), port: await freePort() });
    const url = await db.start();
    const pool = new AdaptivePool({
      connectionString: url,
      maxConnections: 8,
      minConnections: 2,
      applicationName: "spillway/restart",
    });
    let stop = false;
    const failures: { code: string; ms: number; at: number }[] = [];
    let lastSuccessAt = 0;
    const worker = async () => {
      while (!stop) {
        const t0 = performance.now();
        try {
          await pool.query("SELECT pg_sleep(0.002)");
          lastSuccessAt = performance.now();
        } catch (err) {
          failures.push({
            code: isSpillwayError(err) ? err.code : String(err),
            ms: performance.now() - t0,
            at: t0,
          });
          await sleep(5);
        }
      }
    };
    try {
      const load = Array.from({ length: 10 }, worker);
      await sleep(300);
      await db.stop();
      const stoppedAt = performance.now();
      await sleep(1000);
      const during = failures.filter((f) => f.at > stoppedAt + 100);
      expect(during.length).toBeGreaterThan(0);
      expect(new Set(during.map((f) => f.code))).toEqual(new Set(["DB_UNAVAILABLE"]));
      expect(Math.max(...during.map((f) => f.ms))).toBeLessThan(100);
      expect(pool.circuitOpen).toBe(true);

      await db.start();
      const restartedAt = performance.now();
      while (lastSuccessAt < restartedAt && performance.now() - restartedAt < 5000) await sleep(10);
      expect(lastSuccessAt - restartedAt).toBeLessThan(2000);
      stop = true;
      await Promise.all(load);
      await sleep(200);
      // The pool's idea of its connections is the server's.
      expect(await backends(url, "spillway/restart")).toBe(pool.totalCount);
    } finally {
      stop = true;
      await pool.end();
      await db.stop();
    }
  });

  it("three instances share a lowered max_connections fairly and never exceed the budget", async () => {
    const db = new EmbeddedDatabase({
      dataDir: join(dir, "budget"),
      port: await freePort(),
      settings: { max_connections: 24 },
    });
    const url = await db.start();
    const pools = [0, 1, 2].map(
      (i) =>
        new AdaptivePool({
          connectionString: url,
          maxConnections: 50,
          minConnections: 1,
          applicationName: `spillway/inst${i}`,
          acquireTimeoutMs: 2000,
        }),
    );
    const budgets = pools.map(
      (pool, i) =>
        new ConnectionBudget(pool, {
          instanceId: `00000000-0000-0000-0000-00000000000${i}`,
          applicationPrefix: `spillway/inst${i}`,
          heartbeatMs: 200,
          headroom: 2,
        }),
    );
    let stop = false;
    let peak = 0;
    // One connection held for the whole test: a monitor that connected for
    // each look would come and go, and every heartbeat in a gap would count
    // a budget one larger (19) than the one asserted below.
    const watcher = new pg.Client({ connectionString: url });
    await watcher.connect();
    const monitor = (async () => {
      while (!stop) {
        peak = Math.max(peak, await backends(watcher, "spillway/"));
        await sleep(20);
      }
    })();
    try {
      for (const budget of budgets) {
        await budget.start();
        await sleep(100);
      }
      const load = pools.flatMap((pool) =>
        Array.from({ length: 15 }, async () => {
          while (!stop) await pool.query("SELECT pg_sleep(0.02)").catch(() => sleep(5));
        }),
      );
      await sleep(2500);
      const snapshots = budgets.map((b) => b.last);
      stop = true;
      await Promise.all([...load, monitor]);
      // 24 - 3 superuser slots - 1 monitor - 2 headroom = 18: 6 each.
      const budget = snapshots[0]?.budget ?? 0;
      expect(budget).toBeGreaterThanOrEqual(16);
      expect(peak).toBeLessThanOrEqual(budget);
      const caps = pools.map((p) => p.hardCap);
      expect(Math.max(...caps) - Math.min(...caps)).toBeLessThanOrEqual(1);
      expect(Math.min(...caps)).toBeGreaterThanOrEqual(Math.floor(budget / 3) - 1);
    } finally {
      stop = true;
      await monitor.catch(() => {});
      await watcher.end();
      for (const b of budgets) await b.stop();
      await Promise.all(pools.map((p) => p.end()));
      await db.stop();
    }
  });

  it("runs Kysely's queries (PostgresDialect) through the pool", async () => {
    const url = await createTestDatabase();
    const pool = new AdaptivePool({
      connectionString: url,
      maxConnections: 4,
      applicationName: "spillway/kysely",
    });
    const db = new Kysely<{ notes: { id: Generated<number>; body: string } }>({
      dialect: new PostgresDialect({ pool: pool as unknown as PostgresPool }),
    });
    // (The cast is type-only: Kysely types `command` as a union of tags where pg and the pool say string.)
    try {
      await db.schema
        .createTable("notes")
        .addColumn("id", "serial", (c) => c.primaryKey())
        .addColumn("body", "text")
        .execute();
      await db
        .insertInto("notes")
        .values([{ body: "one" }, { body: "two" }])
        .execute();
      const rows = await db.selectFrom("notes").select(["id", "body"]).orderBy("id").execute();
      expect(rows.map((r) => r.body)).toEqual(["one", "two"]);
      await db.transaction().execute(async (tx) => {
        await tx.insertInto("notes").values({ body: "three" }).execute();
      });
      const count = await ksql<{ n: number }>`SELECT count(*)::int AS n FROM notes`.execute(db);
      expect(count.rows[0]?.n).toBe(3);
      expect(pool.stats.acquired).toBeGreaterThan(3);
    } finally {
      await db.destroy();
    }
  });
});
