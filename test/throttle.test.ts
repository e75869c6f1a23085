import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashSessionToken, newSessionToken } from "../src/auth/index.js";
import { scrapeMetrics } from "../src/lab/metrics-scrape.js";
import { call, strongPassword, uniqueEmail } from "./support/http-client.js";
import { sql, startTestApp, type TestApp } from "./support/test-app.js";

describe("per-account lockout", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ loginMaxFailures: 3, lockoutBaseSeconds: 30 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("locks after repeated failures, with growing lockouts and Retry-After", async () => {
    const email = uniqueEmail();
    const reg = await call(t.baseUrl, "POST", "/v1/register", {
      json: { email, password: strongPassword },
    });
    const attempt = (password: string) =>
      call(t.baseUrl, "POST", "/v1/login", { json: { email, password } });
    for (let i = 0; i < 3; i++) {
      expect((await attempt("wrong-password-here")).json.error.code).toBe(
        "AUTH_INVALID_CREDENTIALS",
      );
    }
    const locked = await attempt(strongPassword);
    expect(locked.status).toBe(429);
    expect(locked.json.error.code).toBe("AUTH_RATE_LIMITED");
    const retryAfter = Number(locked.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(25);
    expect(retryAfter).toBeLessThanOrEqual(30);

    // Lockout over: the next round of failures locks for twice as long.
    await sql(
      t.databaseUrl,
      "UPDATE users SET locked_until = now() - interval '1 second' WHERE id = $1",
      [reg.json.user.id],
    );
    for (let i = 0; i < 3; i++) await attempt("wrong-password-here");
    const second = await attempt(strongPassword);
    expect(Number(second.headers.get("retry-after"))).toBeGreaterThan(55);

    const events = await sql<{ kind: string }>(
      t.databaseUrl,
      "SELECT kind FROM auth_events WHERE user_id = $1 AND kind = 'lockout'",
      [reg.json.user.id],
    );
    expect(events).toHaveLength(2);

    // A good password after the lockout ends resets the counters.
    await sql(
      t.databaseUrl,
      "UPDATE users SET locked_until = now() - interval '1 second' WHERE id = $1",
      [reg.json.user.id],
    );
    expect((await attempt(strongPassword)).status).toBe(200);
    const [user] = await sql(
      t.databaseUrl,
      "SELECT failed_logins, lockouts FROM users WHERE id = $1",
      [reg.json.user.id],
    );
    expect(user).toEqual({ failed_logins: 0, lockouts: 0 });
  });

  it("wrong current passwords at a password change lock the account as failed logins do", async () => {
    const email = uniqueEmail();
    const reg = await call(t.baseUrl, "POST", "/v1/register", {
      json: { email, password: strongPassword },
    });
    const change = (currentPassword: string) =>
      call(t.baseUrl, "POST", "/v1/password", {
        json: { currentPassword, newPassword: "amber-lantern-quietly-47" },
        token: reg.json.session.token,
      });
    for (let i = 0; i < 3; i++)
      expect((await change("wrong-password-here")).json.error.code).toBe("AUTH_PASSWORD_INCORRECT");
    const locked = await change(strongPassword);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(25);
    const login = await call(t.baseUrl, "POST", "/v1/login", {
      json: { email, password: strongPassword },
    });
    expect(login.json.error.code).toBe("AUTH_RATE_LIMITED");
  });

  it("auth_events is append-only", async () => {
    await expect(sql(t.databaseUrl, "DELETE FROM auth_events")).rejects.toThrow(/append-only/);
    await expect(sql(t.databaseUrl, "UPDATE auth_events SET kind = 'register'")).rejects.toThrow(
      /append-only/,
    );
  });
});

describe("per-IP token bucket", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ipBurst: 4, ipRefillPerSecond: 1 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("refuses credential attempts beyond the burst with 429 and Retry-After", async () => {
    const results = [];
    for (let i = 0; i < 6; i++) {
      results.push(
        await call(t.baseUrl, "POST", "/v1/login", {
          json: { email: uniqueEmail(), password: "some-password-1" },
        }),
      );
    }
    expect(results.slice(0, 4).map((r) => r.status)).toEqual([401, 401, 401, 401]);
    expect(results[4]?.status).toBe(429);
    expect(results[4]?.json.error.code).toBe("AUTH_RATE_LIMITED");
    expect(Number(results[4]?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const refused = results.filter((r) => r.status === 429).length;
    const metrics = await scrapeMetrics(t.app.opsUrl ?? "");
    expect(metrics.get('spillway_rate_limited_total{limit="credentials"}')).toBe(refused);
    // Session checks are not credential attempts and are not throttled.
    expect((await call(t.baseUrl, "GET", "/v1/session")).status).toBe(401);
  });
});

describe("behind a proxy (trustProxy)", () => {
  const loginFrom = (t: TestApp, forwardedFor: string) =>
    call(t.baseUrl, "POST", "/v1/login", {
      json: { email: uniqueEmail(), password: "some-password-1" },
      headers: { "x-forwarded-for": forwardedFor },
    });

  it("gives each client the proxy forwards a bucket of its own, whatever it writes in the header", async () => {
    // The tests' requests come from 127.0.0.1: here, the proxy.
    const t = await startTestApp({ ipBurst: 2, ipRefillPerSecond: 1, trustProxy: ["loopback"] });
    try {
      const statuses = async (forwardedFor: string, n: number) => {
        const out: number[] = [];
        for (let i = 0; i < n; i++) out.push((await loginFrom(t, forwardedFor)).status);
        return out;
      };
      expect(await statuses("203.0.113.7", 3)).toEqual([401, 401, 429]);
      // A client that writes its own X-Forwarded-For is still known by the
      // address the proxy appended: the entry nearest the proxy.
      expect(await statuses("192.0.2.1, 203.0.113.7", 1)).toEqual([429]);
      // Another client through the same proxy is not held back by the first.
      expect(await statuses("198.51.100.9", 2)).toEqual([401, 401]);
      const ips = await sql<{ ip: string }>(
        t.databaseUrl,
        "SELECT DISTINCT host(ip) AS ip FROM auth_events ORDER BY 1",
      );
      expect(ips.map((r) => r.ip)).toEqual(["198.51.100.9", "203.0.113.7"]);
    } finally {
      await t.close();
    }
  });

  it("believes no X-Forwarded-For from an address that is not a trusted proxy", async () => {
    const t = await startTestApp({ ipBurst: 2, ipRefillPerSecond: 1, trustProxy: ["10.0.0.0/8"] });
    try {
      const statuses = [];
      for (const client of ["203.0.113.7", "198.51.100.9", "192.0.2.1"]) {
        statuses.push((await loginFrom(t, client)).status);
      }
      // All one client, 127.0.0.1, whatever each request claims.
      expect(statuses).toEqual([401, 401, 429]);
    } finally {
      await t.close();
    }
  });
});

describe("per-IP bucket of session lookups that find nothing", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ sessionLookupBurst: 3, sessionLookupRefillPerSecond: 1 });
  });
  afterAll(async () => {
    await t?.close();
  });

  const check = (token: string) => call(t.baseUrl, "GET", "/v1/session", { token });
  const register = async () =>
    (
      await call(t.baseUrl, "POST", "/v1/register", {
        json: { email: uniqueEmail(), password: strongPassword },
      })
    ).json;

  it("refuses made-up tokens past the burst before they reach the database", async () => {
    const first = await register();
    const cached = first.session.token as string;
    const waiting = (await register()).session.token as string;
    expect((await check(cached)).status).toBe(200); // found: not counted
    const madeUp = [newSessionToken(), newSessionToken(), newSessionToken()];
    for (const token of madeUp) expect((await check(token)).status).toBe(401);
    // Past the burst, a lookup is refused without asking the database: this
    // token's row, planted behind the service's back, would have been found.
    const planted = newSessionToken();
    await sql(
      t.databaseUrl,
      "INSERT INTO sessions (user_id, token_hash, expires_at) VALUES ($1, $2, now() + interval '1 day')",
      [first.user.id, hashSessionToken(planted)],
    );
    const refused = await check(planted);
    expect(refused.status).toBe(429);
    expect(refused.json.error.code).toBe("AUTH_RATE_LIMITED");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // A token already found invalid is refused from memory, and a session in
    // the cache is served: neither needs the database.
    expect((await check(madeUp[0] ?? "")).status).toBe(401);
    expect((await check(cached)).status).toBe(200);

    // A second later the bucket holds one lookup. A token that is found gives it back...
    await new Promise((r) => setTimeout(r, 1100));
    expect((await check(waiting)).status).toBe(200);
    // ...one that is not spends it.
    expect((await check(newSessionToken())).status).toBe(401);
    expect((await check(newSessionToken())).status).toBe(429);

    // The operators see each limit's refusals apart.
    const metrics = await scrapeMetrics(t.app.opsUrl ?? "");
    expect(metrics.get('spillway_rate_limited_total{limit="session_lookups"}')).toBe(2);
    expect(metrics.get('spillway_rate_limited_total{limit="credentials"}')).toBe(0);
  });
});
