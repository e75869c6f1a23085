import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RetentionPurge, type RetentionPurgeConfig } from "../src/auth/index.js";
import { Database, statements } from "../src/db/index.js";
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

/** A purge of ended sessions, outside the service's own. */
const sessionPurge = (config: Omit<RetentionPurgeConfig, "statement">, db = t.app.db) =>
  new RetentionPurge(db, { statement: statements.purgeEndedSessions, ...config });

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

/** Which of the given ids the query (ids in $1) still finds. */
const idsLeft =
  (query: string) =>
  async (ids: string[]): Promise<string[]> =>
    (await sql<{ id: string }>(t.databaseUrl, query, [ids])).map((r) => r.id);

const exists = idsLeft("SELECT id FROM sessions WHERE id = ANY($1::uuid[]) ORDER BY id");

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
    const now = sessionPurge({ intervalMs: 0, retentionSeconds: 0 });
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
    const a = sessionPurge({ intervalMs: 0, retentionSeconds: 0, batchSize: 2 });
    const b = sessionPurge({ intervalMs: 0, retentionSeconds: 0, batchSize: 2 });
    const [fromA, fromB] = await Promise.all([a.sweep(), b.sweep()]);
    expect(fromA + fromB).toBe(9);
    expect(a.purged + b.purged).toBe(9);
    expect(await exists(ended)).toEqual([]);
  });

  it("sweeps on its timer until stopped", async () => {
    const purge = sessionPurge({
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
    await sessionPurge({ intervalMs: 0, retentionSeconds: 0 }).sweep();
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
    const purge = sessionPurge(
      { intervalMs: 30, firstSweepMs: 1, retentionSeconds: 0 },
      new Database(pool),
    );
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

/** Auth events of the test's user dated `daysAgo` days back; returns their ids. */
async function eventRows(...daysAgo: number[]): Promise<string[]> {
  const rows = await sql<{ id: string }>(
    t.databaseUrl,
    `INSERT INTO auth_events (kind, user_id, at)
     SELECT 'login_success', $1, now() - make_interval(days => d) FROM unnest($2::int[]) AS d
     RETURNING id`,
    [userId, daysAgo],
  );
  return rows.map((r) => r.id);
}

const eventsLeft = idsLeft("SELECT id FROM auth_events WHERE id = ANY($1::bigint[]) ORDER BY id");

describe("purging known devices", () => {
  it("forgets devices that have not logged in for knownDeviceDays, and no other", async () => {
    const seenAgo = async (days: number) => {
      const [row] = await sql<{ id: string }>(
        t.databaseUrl,
        `INSERT INTO known_devices (user_id, token_hash, last_login_at)
         VALUES ($1, sha256(gen_random_uuid()::text::bytea), now() - make_interval(days => $2))
         RETURNING id`,
        [userId, days],
      );
      return row?.id ?? "";
    };
    const longGone = await seenAgo(200);
    const recent = await seenAgo(170);
    const devices = idsLeft("SELECT id FROM known_devices WHERE id = ANY($1::uuid[]) ORDER BY id");
    const before = await scrapeMetrics(t.app.opsUrl ?? "");
    expect(t.app.config.knownDeviceDays).toBe(180);
    expect(await t.app.devicePurge.sweep()).toBe(1);
    expect(await devices([longGone, recent])).toEqual([recent]);
    const after = await scrapeMetrics(t.app.opsUrl ?? "");
    expect(
      (after.get("spillway_known_devices_purged_total") ?? 0) -
        (before.get("spillway_known_devices_purged_total") ?? 0),
    ).toBe(1);
  });
});

describe("purging old auth events", () => {
  it("deletes events older than the retention, and no other", async () => {
    const [yearAndMonthAgo = "", overYearAgo = "", tenMonthsAgo = ""] = await eventRows(
      400,
      366,
      300,
    );
    const [recent] = await sql<{ id: string }>(
      t.databaseUrl,
      "SELECT id FROM auth_events WHERE user_id = $1 AND kind = 'register'",
      [userId],
    );
    const all = [yearAndMonthAgo, overYearAgo, tenMonthsAgo, recent?.id ?? ""];

    const before = await scrapeMetrics(t.app.opsUrl ?? "");
    // The service's own purge, at its default retention of a year.
    expect(t.app.config.authEventRetentionDays).toBe(365);
    expect(await t.app.eventPurge?.sweep()).toBe(2);
    expect(await eventsLeft(all)).toEqual([tenMonthsAgo, recent?.id].sort());
    const after = await scrapeMetrics(t.app.opsUrl ?? "");
    expect(
      (after.get("spillway_auth_events_purged_total") ?? 0) -
        (before.get("spillway_auth_events_purged_total") ?? 0),
    ).toBe(2);
    expect(after.get("spillway_auth_event_purge_failures_total")).toBe(0);
  });

  it("only the purge gets past the append-only record, not a statement after it", async () => {
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT purge_auth_events(1e9, 10)");
      await expect(client.query("DELETE FROM auth_events")).rejects.toThrow(/append-only/);
      await client.query("ROLLBACK");
      await client.query("SELECT purge_auth_events(1e9, 10)");
      await expect(client.query("UPDATE auth_events SET ip = '10.0.0.1'")).rejects.toThrow(
        /append-only/,
      );
      await expect(client.query("DELETE FROM auth_events")).rejects.toThrow(/append-only/);
    } finally {
      await client.end();
    }
  });

  it("sweeps in batches until none is left, and two sweeps at once delete each event once", async () => {
    await eventRows(...Array.from({ length: 9 }, () => 1));
    const [{ count = 0 } = {}] = await sql<{ count: number }>(
      t.databaseUrl,
      "SELECT count(*)::int AS count FROM auth_events",
    );
    expect(count).toBeGreaterThanOrEqual(9);
    const eventPurge = (batchSize: number) =>
      new RetentionPurge(t.app.db, {
        statement: statements.purgeAuthEvents,
        intervalMs: 0,
        retentionSeconds: 0,
        batchSize,
      });
    const [a, b] = [eventPurge(2), eventPurge(2)];
    const [fromA, fromB] = await Promise.all([a.sweep(), b.sweep()]);
    expect(fromA + fromB).toBe(count);
    const [{ left = -1 } = {}] = await sql<{ left: number }>(
      t.databaseUrl,
      "SELECT count(*)::int AS left FROM auth_events",
    );
    expect(left).toBe(0);
  });

  it("with a retention of 0 days, events are kept forever", async () => {
    const forever = await startTestApp({ authEventRetentionDays: 0 });
    try {
      expect(forever.app.eventPurge).toBeUndefined();
      const metrics = await scrapeMetrics(forever.app.opsUrl ?? "");
      expect(metrics.get("spillway_auth_events_purged_total")).toBe(0);
    } finally {
      await forever.close();
    }
  });
});
