import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashSessionToken, newSessionToken } from "../src/auth/index.js";
import { call, strongPassword, uniqueEmail } from "./support/http-client.js";
import { createTestDatabase, sql, startTestApp, type TestApp } from "./support/test-app.js";

/** Two instances on one database, each with a long cache TTL so only invalidation can evict. */
let a: TestApp;
let b: TestApp;
beforeAll(async () => {
  const db = await createTestDatabase();
  a = await startTestApp({ sessionCacheTtlMs: 600_000, sessionRenewAfterSeconds: 2 }, db);
  b = await startTestApp({ sessionCacheTtlMs: 600_000, sessionRenewAfterSeconds: 2 }, db);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

function cookieMaxAge(headers: Headers): number {
  return Number(/Max-Age=(\d+)/.exec(headers.get("set-cookie") ?? "")?.[1] ?? Number.NaN);
}

async function until(check: () => Promise<boolean>, timeoutMs = 3000): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - started;
}

describe("session cache across instances", () => {
  it("serves repeated checks from the cache, not the database", async () => {
    const reg = await call(a.baseUrl, "POST", "/v1/register", {
      json: { email: uniqueEmail(), password: strongPassword },
    });
    const token = reg.json.session.token as string;
    expect((await call(b.baseUrl, "GET", "/v1/session", { token })).status).toBe(200);
    // Delete the row behind the service's back (no NOTIFY): only a cache can still answer.
    await sql(a.databaseUrl, "DELETE FROM sessions WHERE id = $1", [reg.json.session.id]);
    for (let i = 0; i < 5; i++)
      expect((await call(b.baseUrl, "GET", "/v1/session", { token })).status).toBe(200);
    // Instance a never cached it, so it asks the database and refuses.
    expect((await call(a.baseUrl, "GET", "/v1/session", { token })).status).toBe(401);
  });

  it("a revocation on one instance evicts the session on the other through NOTIFY", async () => {
    const reg = await call(a.baseUrl, "POST", "/v1/register", {
      json: { email: uniqueEmail(), password: strongPassword },
    });
    const token = reg.json.session.token as string;
    expect((await call(b.baseUrl, "GET", "/v1/session", { token })).status).toBe(200);
    expect((await call(a.baseUrl, "GET", "/v1/session", { token })).status).toBe(200);
    expect((await call(a.baseUrl, "POST", "/v1/logout", { token })).status).toBe(204);
    // Same instance: refused at once.
    expect((await call(a.baseUrl, "GET", "/v1/session", { token })).status).toBe(401);
    // Other instance: refused as soon as the notification lands, well before
    // b's renew interval (2 s), when a check would ask the database anyway.
    await until(
      async () => (await call(b.baseUrl, "GET", "/v1/session", { token })).status === 401,
      1000,
    );
  });

  it("revoking all other sessions reaches every instance", async () => {
    const email = uniqueEmail();
    const first = await call(a.baseUrl, "POST", "/v1/register", {
      json: { email, password: strongPassword },
    });
    const second = await call(b.baseUrl, "POST", "/v1/login", {
      json: { email, password: strongPassword },
    });
    expect(
      (await call(b.baseUrl, "GET", "/v1/session", { token: first.json.session.token })).status,
    ).toBe(200);
    await call(a.baseUrl, "DELETE", "/v1/sessions", { token: second.json.session.token });
    await until(
      async () =>
        (await call(b.baseUrl, "GET", "/v1/session", { token: first.json.session.token }))
          .status === 401,
      1000,
    );
    expect(
      (await call(b.baseUrl, "GET", "/v1/session", { token: second.json.session.token })).status,
    ).toBe(200);
  });

  it("a password change ends the account's sessions on every instance", async () => {
    const email = uniqueEmail();
    const first = await call(a.baseUrl, "POST", "/v1/register", {
      json: { email, password: strongPassword },
    });
    const old = first.json.session.token as string;
    expect((await call(b.baseUrl, "GET", "/v1/session", { token: old })).status).toBe(200);
    const changed = await call(a.baseUrl, "POST", "/v1/password", {
      json: { currentPassword: strongPassword, newPassword: "amber-lantern-quietly-47" },
      token: old,
    });
    expect(changed.status).toBe(200);
    // Well before b's renew interval (2 s), when a check would ask the database anyway.
    await until(
      async () => (await call(b.baseUrl, "GET", "/v1/session", { token: old })).status === 401,
      1000,
    );
    const renewed = changed.json.session.token as string;
    expect((await call(b.baseUrl, "GET", "/v1/session", { token: renewed })).status).toBe(200);
  });

  it("answers a token it found invalid from the tombstone, not the database", async () => {
    const reg = await call(a.baseUrl, "POST", "/v1/register", {
      json: { email: uniqueEmail(), password: strongPassword },
    });
    const token = newSessionToken();
    expect((await call(b.baseUrl, "GET", "/v1/session", { token })).status).toBe(401);
    // The row appears behind the service's back (a real token never does
    // this: it exists before its client has it). Only a tombstone can still refuse it.
    await sql(
      a.databaseUrl,
      "INSERT INTO sessions (user_id, token_hash, expires_at) VALUES ($1, $2, now() + interval '1 day')",
      [reg.json.user.id, hashSessionToken(token)],
    );
    for (let i = 0; i < 3; i++)
      expect((await call(b.baseUrl, "GET", "/v1/session", { token })).status).toBe(401);
    // Instance a never looked it up, so it asks the database.
    expect((await call(a.baseUrl, "GET", "/v1/session", { token })).status).toBe(200);
  });

  it("slides the expiry, writing at most once per renew interval", async () => {
    const reg = await call(a.baseUrl, "POST", "/v1/register", {
      json: { email: uniqueEmail(), password: strongPassword },
    });
    const token = reg.json.session.token as string;
    const expiry = async () =>
      (
        await sql<{ expires_at: Date }>(
          a.databaseUrl,
          "SELECT expires_at FROM sessions WHERE id = $1",
          [reg.json.session.id],
        )
      )[0]?.expires_at.getTime() ?? 0;
    const initial = await expiry();
    await call(a.baseUrl, "GET", "/v1/session", { token });
    expect(await expiry()).toBe(initial);
    await new Promise((r) => setTimeout(r, 2100));
    const res = await call(a.baseUrl, "GET", "/v1/session", { token });
    const slid = await expiry();
    expect(slid).toBeGreaterThan(initial + 1500);
    expect(new Date(res.json.session.expiresAt).getTime()).toBe(slid);
  });

  it("re-issues the cookie's Max-Age when a check slides the session", async () => {
    const reg = await call(a.baseUrl, "POST", "/v1/register", {
      json: { email: uniqueEmail(), password: strongPassword },
    });
    const cookie = `spillway_session=${reg.json.session.token}`;
    expect(
      (await call(a.baseUrl, "GET", "/v1/session", { cookie })).headers.get("set-cookie"),
    ).toBeNull();
    await new Promise((r) => setTimeout(r, 2100));
    const slid = await call(a.baseUrl, "GET", "/v1/session", { cookie });
    expect(slid.headers.get("set-cookie")).toContain(`spillway_session=${reg.json.session.token};`);
    expect(cookieMaxAge(slid.headers)).toBeCloseTo(1_209_600, -1);
    expect(
      (await call(a.baseUrl, "GET", "/v1/session", { cookie })).headers.get("set-cookie"),
    ).toBeNull();
  });
});

describe("the cache's lifetime", () => {
  let d: TestApp;
  beforeAll(async () => {
    // Renewal (a database write) only after an hour: only the TTL can send a check back.
    d = await startTestApp({ sessionCacheTtlMs: 400, sessionRenewAfterSeconds: 3600 });
  });
  afterAll(() => d?.close());

  it("trusts an entry for its TTL from the read, however often it is used", async () => {
    const reg = await call(d.baseUrl, "POST", "/v1/register", {
      json: { email: uniqueEmail(), password: strongPassword },
    });
    const token = reg.json.session.token as string;
    expect((await call(d.baseUrl, "GET", "/v1/session", { token })).status).toBe(200);
    // Gone behind the service's back: no notification, only the TTL ends the entry.
    await sql(d.databaseUrl, "DELETE FROM sessions WHERE id = $1", [reg.json.session.id]);
    // Checked every few milliseconds, so a TTL renewed on each use would never run out.
    await until(
      async () => (await call(d.baseUrl, "GET", "/v1/session", { token })).status === 401,
      5000,
    );
  });
});

describe("absolute session lifetime", () => {
  // No cache, so each check reads the row as the test left it; renewal after a minute.
  let c: TestApp;
  beforeAll(async () => {
    c = await startTestApp({
      sessionTtlSeconds: 3600,
      sessionMaxLifetimeSeconds: 120,
      sessionRenewAfterSeconds: 60,
      sessionCacheTtlMs: 0,
    });
  });
  afterAll(() => c?.close());

  /** Moves a session's login and last use into the past, as if the seconds had passed. */
  const age = (sessionId: string, seconds: number) =>
    sql(
      c.databaseUrl,
      `UPDATE sessions SET created_at = created_at - make_interval(secs => $2),
                           last_seen_at = last_seen_at - make_interval(secs => $2)
       WHERE id = $1`,
      [sessionId, seconds],
    );
  const lifetime = (session: { createdAt: string; expiresAt: string }) =>
    (Date.parse(session.expiresAt) - Date.parse(session.createdAt)) / 1000;

  it("ends a session at its absolute lifetime, however often it is used", async () => {
    const reg = await call(c.baseUrl, "POST", "/v1/register", {
      json: { email: uniqueEmail(), password: strongPassword },
    });
    expect(lifetime(reg.json.session)).toBeCloseTo(120, 0);
    expect(cookieMaxAge(reg.headers)).toBeCloseTo(120, -1);
    const token = reg.json.session.token as string;
    const cookie = `spillway_session=${token}`;

    // Used after 61 s: it slides, but only to 120 s after the login, not an hour from now.
    await age(reg.json.session.id, 61);
    const slid = await call(c.baseUrl, "GET", "/v1/session", { cookie });
    expect(slid.status).toBe(200);
    expect(lifetime(slid.json.session)).toBeCloseTo(120, 0);
    expect(Date.parse(slid.json.session.expiresAt) - Date.now()).toBeLessThan(60_000);
    expect(cookieMaxAge(slid.headers)).toBeCloseTo(59, -1);

    // Past 120 s it ends, though its idle expiry is still ahead.
    await age(reg.json.session.id, 60);
    const [row] = await sql<{ expires_at: Date }>(
      c.databaseUrl,
      "SELECT expires_at FROM sessions WHERE id = $1",
      [reg.json.session.id],
    );
    expect(row?.expires_at.getTime()).toBeGreaterThan(Date.now());
    const ended = await call(c.baseUrl, "GET", "/v1/session", { cookie });
    expect(ended.status).toBe(401);
    expect(ended.json.error.code).toBe("AUTH_SESSION_INVALID");
  });

  it("opens a session for the shorter of its idle and absolute lifetimes", async () => {
    const short = await startTestApp(
      {
        sessionTtlSeconds: 60,
        sessionRenewAfterSeconds: 30,
        sessionMaxLifetimeSeconds: 120,
        sessionCacheTtlMs: 0,
      },
      c.databaseUrl,
    );
    try {
      const reg = await call(short.baseUrl, "POST", "/v1/register", {
        json: { email: uniqueEmail(), password: strongPassword },
      });
      expect(lifetime(reg.json.session)).toBeCloseTo(60, 0);
    } finally {
      await short.close();
    }
  });
});
