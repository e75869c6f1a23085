import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionPurge } from "../src/auth/index.js";
import { Database } from "../src/db/index.js";
import { scrapeMetrics } from "../src/lab/metrics-scrape.js";
import { PlainPool } from "../src/pool/index.js";
import { call, strongPassword, uniqueEmail } from "./support/http-client.js";
import { sql, startTestApp, type TestApp } from "./support/test-app.js";

let t: TestApp;
let userId: string;
let registeredSession: string;
const email = uniqueEmail("purge");
beforeAll(async () => {
  // No sweeps on the timer: each test sweeps when it means to.
  t = await startTestApp({ sessionPurgeIntervalSeconds: 0 });
  const reg = await call(t.baseUrl, "POST", "/v1/register", {
    json: { email, password: strongPassword },
  });
  expect(reg.status).toBe(201);
  userId = reg.json.user.id;
  registeredSession = reg.json.session.id;
});
afterAll(async () => {
  await t?.close();
});

const day = 86_400;

/** A session row of the test's user that expires `expiresIn` seconds from now (negative: ended). */
async function sessionRow(expiresIn: number, revokedAgo?: number): Promise<string> {
  const [row] = await sql<{ id: string }>(
    t.databaseUrl,
    `INSERT INTO sessions (user_id, token_hash, expires_at, revoked_at)
     VALUES ($1, sha256(gen_random_uuid()::text::bytea), now() + make_interval(secs => $2),
             now() - make_interval(secs => $3::float8))
     RETURNING id`,
    [userId, expiresIn, revokedAgo ?? null],
  );
  return row?.id ?? "";
}

async function exists(ids: string[]): Promise<string[]> {
  const rows = await sql<{ id: string }>(
    t.databaseUrl,
    "SELECT id FROM sessions WHERE id = ANY($1::uuid[]) ORDER BY id",
    [ids],
  );
  return rows.map((r) => r.id);
}

describe("purging ended sessions", () => {
  it("deletes sessions that ended longer ago than the retention, and no other", async () => {
    const login = await call(t.baseUrl, "POST", "/v1/login", {
      json: { email, password: strongPassword },
    });
    expect(login.status).toBe(200);
    const token = login.json.session.token as string;
    const expiredLongAgo = await sessionRow(-8 * day);
    const expiredYesterday = await sessionRow(-day);
    const revokedLongAgo = await sessionRow(30 * day, 8 * day);
    const revokedYesterday = await sessionRow(30 * day, day);
    // Logged out through the API just now.
    const other = await call(t.baseUrl, "POST", "/v1/login", {
      json: { email, password: strongPassword },
    });
    expect(
      (await call(t.baseUrl, "POST", "/v1/logout", { token: other.json.session.token })).status,
    ).toBe(204);
    const loggedOut = other.json.session.id as string;
    const all = [
      expiredLongAgo,
      expiredYesterday,
      revokedLongAgo,
      revokedYesterday,
      loggedOut,
      login.json.session.id,
    ];

    const before = await scrapeMetrics(t.app.opsUrl ?? "");
    // The service's own purge, at its default retention of 7 days.
    expect(t.app.config.sessionRetentionSeconds).toBe(7 * day);
    expect(await t.app.sessionPurge.sweep()).toBe(2);
    expect(await exists(all)).toEqual(
      [expiredYesterday, revokedYesterday, loggedOut, login.json.session.id].sort(),
    );
    const after = await scrapeMetrics(t.app.opsUrl ?? "");
    expect(
      (after.get("spillway_sessions_purged_total") ?? 0) -
        (before.get("spillway_sessions_purged_total") ?? 0),
    ).toBe(2);

    // With no retention, every ended session goes; the live one stays and still works.
    const now = new SessionPurge(t.app.db, { intervalMs: 0, retentionSeconds: 0 });
    expect(await now.sweep()).toBe(3);
    expect(await exists(all)).toEqual([login.json.session.id]);
    const check = await call(t.baseUrl, "GET", "/v1/session", { token });
    expect(check.status).toBe(200);
    const list = await call(t.baseUrl, "GET", "/v1/sessions", { token });
    expect(list.json.sessions.map((s: { id: string }) => s.id).sort()).toEqual(
      [login.json.session.id, registeredSession].sort(),
    );
    // The record of the purged sessions stays.
    const events = await sql(
      t.databaseUrl,
      "SELECT kind FROM auth_events WHERE session_id = $1 ORDER BY id",
      [loggedOut],
    );
    expect(events.map((e) => e.kind)).toEqual(["login_success", "logout"]);
  });

  it("sweeps in batches until none is left, and two sweeps at once delete each row once", async () => {
    const ended = await Promise.all(Array.from({ length: 9 }, () => sessionRow(-day)));
    const a = new SessionPurge(t.app.db, { intervalMs: 0, retentionSeconds: 0, batchSize: 2 });
    const b = new SessionPurge(t.app.db, { intervalMs: 0, retentionSeconds: 0, batchSize: 2 });
    const [fromA, fromB] = await Promise.all([a.sweep(), b.sweep()]);
    expect(fromA + fromB).toBe(9);
    expect(a.purged + b.purged).toBe(9);
    expect(await exists(ended)).toEqual([]);
  });

  it("sweeps on its timer until stopped", async () => {
    const purge = new SessionPurge(t.app.db, {
      intervalMs: 50,
      firstSweepMs: 10,
      retentionSeconds: 0,
    });
    const purged: number[] = [];
    purge.on("purged", (count: number) => purged.push(count));
    const first = await sessionRow(-day);
    purge.start();
    const started = Date.now();
    while ((await exists([first])).length > 0) {
      expect(Date.now() - started, "the timer's sweep did not come").toBeLessThan(5000);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(purged).toEqual([1]);
    await purge.stop();
    const second = await sessionRow(-day);
    await new Promise((r) => setTimeout(r, 300));
    expect(await exists([second])).toEqual([second]);
    await new SessionPurge(t.app.db, { intervalMs: 0, retentionSeconds: 0 }).sweep();
  });

  it("a sweep that fails is counted and reported, and the timer keeps going", async () => {
    const pool = new PlainPool({
      connectionString: t.databaseUrl,
      max: 1,
      acquireTimeoutMs: 1000,
      statementTimeoutMs: 1000,
      idleInTransactionTimeoutMs: 1000,
      applicationName: "purge-test",
    });
    await pool.end();
    const purge = new SessionPurge(new Database(pool), {
      intervalMs: 30,
      firstSweepMs: 1,
      retentionSeconds: 0,
    });
    await expect(purge.sweep()).rejects.toThrow();
    expect(purge.failures).toBe(1);
    const errors: unknown[] = [];
    purge.on("sweep-error", (err: unknown) => errors.push(err));
    purge.start();
    const started = Date.now();
    while (errors.length < 2) {
      expect(Date.now() - started, "no second failed sweep").toBeLessThan(5000);
      await new Promise((r) => setTimeout(r, 10));
    }
    await purge.stop();
    expect(purge.failures).toBeGreaterThanOrEqual(3);
  });
});
