import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { hashSessionToken, newSessionToken } from "../src/auth/index.js";
import { scrapeMetrics } from "../src/lab/metrics-scrape.js";
import { type CallResult, call, strongPassword, uniqueEmail } from "./support/http-client.js";
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

describe("known devices", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ loginMaxFailures: 3, lockoutBaseSeconds: 30 });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** The device cookie a reply set (its value and attributes), if any. */
  const deviceCookie = (r: CallResult) => {
    const line = r.headers.getSetCookie().find((c) => c.startsWith("spillway_device="));
    return line === undefined
      ? undefined
      : { value: line.split(";")[0]?.slice("spillway_device=".length) ?? "", line };
  };
  const registered = async () => {
    const email = uniqueEmail("device");
    const reg = await call(t.baseUrl, "POST", "/v1/register", {
      json: { email, password: strongPassword },
    });
    expect(reg.status).toBe(201);
    const device = deviceCookie(reg)?.value ?? "";
    return { email, userId: reg.json.user.id as string, device };
  };
  const login = (email: string, password: string, device?: string) =>
    call(t.baseUrl, "POST", "/v1/login", {
      json: { email, password },
      ...(device === undefined ? {} : { cookie: `spillway_device=${device}` }),
    });
  const lockFromElsewhere = async (email: string) => {
    for (let i = 0; i < 3; i++)
      expect((await login(email, "wrong-password-here")).status).toBe(401);
    expect((await login(email, strongPassword)).status).toBe(429);
  };

  it("sets a device cookie at registration and login: HttpOnly, SameSite=Strict, for knownDeviceDays", async () => {
    const { email, device } = await registered();
    expect(device).toMatch(/^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/);
    const fresh = deviceCookie(await login(email, strongPassword));
    expect(fresh?.line).toMatch(/; Max-Age=15552000; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(fresh?.value).not.toBe(device);
    // A known device keeps its token; the cookie's lifetime starts again.
    expect(deviceCookie(await login(email, strongPassword, device))?.value).toBe(device);
    const [row] = await sql(
      t.databaseUrl,
      "SELECT count(*)::int AS n FROM known_devices WHERE token_hash = $1",
      [hashSessionToken(device)],
    );
    expect(row).toEqual({ n: 1 });
  });

  it("lets a device the account knows log in while failures from elsewhere keep the account locked", async () => {
    const { email, userId, device } = await registered();
    await lockFromElsewhere(email);
    const known = await login(email, strongPassword, device);
    expect(known.status).toBe(200);
    expect(
      (await call(t.baseUrl, "GET", "/v1/session", { token: known.json.session.token })).status,
    ).toBe(200);
    // The owner's login does not lift the lock the others earned.
    const elsewhere = await login(email, strongPassword);
    expect(elsewhere.status).toBe(429);
    expect(Number(elsewhere.headers.get("retry-after"))).toBeGreaterThan(25);
    const [user] = await sql(t.databaseUrl, "SELECT lockouts FROM users WHERE id = $1", [userId]);
    expect(user).toEqual({ lockouts: 1 });
  });

  it("counts a known device's wrong passwords on the device, which alone is locked", async () => {
    const { email, userId, device } = await registered();
    for (let i = 0; i < 3; i++)
      expect((await login(email, "wrong-password-here", device)).status).toBe(401);
    const locked = await login(email, strongPassword, device);
    expect(locked.status).toBe(429);
    expect(locked.json.error.code).toBe("AUTH_RATE_LIMITED");
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(25);
    // Anyone else with the password is not held back by the device's lock.
    expect((await login(email, strongPassword)).status).toBe(200);
    const [ids] = await sql<{ id: string }>(
      t.databaseUrl,
      "SELECT id FROM known_devices WHERE token_hash = $1",
      [hashSessionToken(device)],
    );
    const events = await sql<{ kind: string; device: string | null }>(
      t.databaseUrl,
      "SELECT kind, detail->>'device' AS device FROM auth_events WHERE user_id = $1 AND kind IN ('login_failure', 'lockout') ORDER BY id",
      [userId],
    );
    expect(events).toEqual([
      ...Array.from({ length: 3 }, () => ({ kind: "login_failure", device: ids?.id })),
      { kind: "lockout", device: ids?.id },
    ]);
    // Once the device's lock is over, its good password clears its count.
    await sql(
      t.databaseUrl,
      "UPDATE known_devices SET locked_until = now() - interval '1 second' WHERE id = $1",
      [ids?.id],
    );
    expect((await login(email, strongPassword, device)).status).toBe(200);
    const [after] = await sql(
      t.databaseUrl,
      "SELECT failed_logins, lockouts, locked_until FROM known_devices WHERE id = $1",
      [ids?.id],
    );
    expect(after).toEqual({ failed_logins: 0, lockouts: 0, locked_until: null });
  });

  it("treats another account's device, a made-up one and one past knownDeviceDays as unknown", async () => {
    const other = await registered();
    const { email, device } = await registered();
    await lockFromElsewhere(email);
    expect((await login(email, strongPassword, other.device)).status).toBe(429);
    expect((await login(email, strongPassword, newSessionToken())).status).toBe(429);
    expect((await login(email, strongPassword, "not a token")).status).toBe(429);
    // The account's own device's random part, with a MAC not made by the service.
    const [nonce] = device.split(".");
    expect((await login(email, strongPassword, `${nonce}.${"A".repeat(22)}`)).status).toBe(429);
    await sql(
      t.databaseUrl,
      "UPDATE known_devices SET last_login_at = now() - interval '181 days' WHERE token_hash = $1",
      [hashSessionToken(device)],
    );
    expect((await login(email, strongPassword, device)).status).toBe(429);
  });

  it("forgets every device but the caller's at a password change", async () => {
    const { email, userId, device: laptop } = await registered();
    const phone = deviceCookie(await login(email, strongPassword))?.value ?? "";
    const session = (await login(email, strongPassword, laptop)).json.session.token as string;
    const newPassword = "amber-lantern-quietly-47";
    const changed = await call(t.baseUrl, "POST", "/v1/password", {
      json: { currentPassword: strongPassword, newPassword },
      token: session,
      cookie: `spillway_device=${laptop}`,
    });
    expect(changed.status).toBe(200);
    const left = await sql<{ token_hash: Buffer }>(
      t.databaseUrl,
      "SELECT token_hash FROM known_devices WHERE user_id = $1",
      [userId],
    );
    expect(left.map((r) => r.token_hash)).toEqual([hashSessionToken(laptop)]);
    for (let i = 0; i < 3; i++) await login(email, "wrong-password-here");
    expect((await login(email, newPassword, phone)).status).toBe(429);
    expect((await login(email, newPassword, laptop)).status).toBe(200);
  });

  it("keeps 20 devices of an account: those that came back, then the most recent", async () => {
    const { email, userId, device } = await registered();
    const unreturned = deviceCookie(await login(email, strongPassword))?.value ?? "";
    // The registering browser comes back: it is kept over any number of
    // clients that never do.
    expect((await login(email, strongPassword, device)).status).toBe(200);
    for (let i = 0; i < 21; i++) expect((await login(email, strongPassword)).status).toBe(200);
    const rows = await sql<{ token_hash: Buffer }>(
      t.databaseUrl,
      "SELECT token_hash FROM known_devices WHERE user_id = $1",
      [userId],
    );
    expect(rows).toHaveLength(20);
    const kept = (token: string) => rows.some((r) => r.token_hash.equals(hashSessionToken(token)));
    expect(kept(device)).toBe(true);
    // The first device that never came back, the least recent, was forgotten.
    expect(kept(unreturned)).toBe(false);
  });
});

describe("known devices across restarts and instances", () => {
  it("keeps a device known through a restart, and to a second instance on the same database", async () => {
    const first = await startTestApp({ loginMaxFailures: 2 });
    const email = uniqueEmail("restart");
    let device: string | undefined;
    try {
      const reg = await call(first.baseUrl, "POST", "/v1/register", {
        json: { email, password: strongPassword },
      });
      device = reg.headers
        .getSetCookie()
        .find((c) => c.startsWith("spillway_device="))
        ?.split(";")[0];
    } finally {
      await first.close();
    }
    const [a, b] = await Promise.all([
      startTestApp({ loginMaxFailures: 2 }, first.databaseUrl),
      startTestApp({ loginMaxFailures: 2 }, first.databaseUrl),
    ]);
    try {
      const login = (t: TestApp, password: string, cookie?: string) =>
        call(t.baseUrl, "POST", "/v1/login", {
          json: { email, password },
          ...(cookie === undefined ? {} : { cookie }),
        });
      for (let i = 0; i < 2; i++) await login(a, "wrong-password-here");
      expect((await login(b, strongPassword)).status).toBe(429);
      expect((await login(a, strongPassword, device)).status).toBe(200);
      expect((await login(b, strongPassword, device)).status).toBe(200);
      const secrets = await sql(a.databaseUrl, "SELECT name FROM service_secrets");
      expect(secrets).toEqual([{ name: "device_token" }]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe("known devices through a hashing overload", () => {
  it("admits a known device's login ahead of a crowd that saturates hashing, and refuses a stranger's", async () => {
    // One hash at a time, each ~50 ms here, at most ten waiting: a crowd of
    // twelve logins fills the queue (the rest refused), and it stays
    // saturated for about half a second while ten hashes drain.
    const t = await startTestApp({
      hashConcurrency: 1,
      hashQueueMax: 10,
      hashQueueTimeoutMs: 60_000,
      argon2TimeCost: 24,
      // At nice 10 a busy host stretches these fourteen long hashes past
      // the test's time; the order of admission is what is tested here.
      hashThreadNice: 0,
    });
    try {
      const email = uniqueEmail("owner");
      const reg = await call(t.baseUrl, "POST", "/v1/register", {
        json: { email, password: strongPassword },
      });
      const device = reg.headers
        .getSetCookie()
        .find((c) => c.startsWith("spillway_device="))
        ?.split(";")[0];
      expect(device).toBeDefined();
      // Another account's device token: genuine, but not this account's.
      const other = await call(t.baseUrl, "POST", "/v1/register", {
        json: { email: uniqueEmail("other"), password: strongPassword },
      });
      const borrowed = other.headers
        .getSetCookie()
        .find((c) => c.startsWith("spillway_device="))
        ?.split(";")[0];
      const login = (cookie?: string) =>
        call(t.baseUrl, "POST", "/v1/login", {
          json: { email, password: strongPassword },
          ...(cookie === undefined ? {} : { cookie }),
        });
      // Every email lookup a login makes, watched as it goes to the real pool.
      const query = vi.spyOn(t.app.db.pool, "query");
      const lookups = () =>
        query.mock.calls.filter((c) => (c[0] as { name?: string }).name === "find_user_for_login")
          .length;
      // The crowd: logins to addresses no account has, each a dummy verify.
      const crowd = Array.from({ length: 12 }, () =>
        call(t.baseUrl, "POST", "/v1/login", {
          json: { email: uniqueEmail("crowd"), password: "some-password-1" },
        }),
      );
      const { hasher } = t.app;
      const until = Date.now() + 5000;
      // Saturated: the queue is full and has refused the crowd's latest.
      while (hasher.refused === 0) {
        expect(Date.now(), "the crowd never filled the queue").toBeLessThan(until);
        await new Promise((r) => setTimeout(r, 2));
      }
      // A borrowed token is told apart without the database: refused
      // before any lookup, as a login with no token is.
      const before = lookups();
      const [withBorrowed, stranger] = await Promise.all([login(borrowed), login()]);
      expect([withBorrowed.status, stranger.status]).toEqual([503, 503]);
      expect(stranger.json.error.code).toBe("HASH_SATURATED");
      expect(lookups()).toBe(before);
      const owner = await login(device);
      expect(owner.status).toBe(200);
      expect(lookups()).toBe(before + 1);
      const metrics = await scrapeMetrics(t.app.opsUrl ?? "");
      expect(metrics.get("spillway_password_hash_priority_admitted_total")).toBe(1);
      const statuses = (await Promise.all(crowd)).map((r) => r.status);
      // Those past the queue were refused; the rest answered, none dropped.
      expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(5);
      expect(statuses.every((s) => s === 401 || s === 503)).toBe(true);
      // The request metrics tell the shed apart by its code.
      const answered = await scrapeMetrics(t.app.opsUrl ?? "");
      const logins = (labels: string) =>
        answered.get(
          `http_server_request_duration_seconds_count{http_request_method="POST",http_route="/v1/login",${labels}}`,
        );
      expect(logins('http_response_status_code="503",error_type="HASH_SATURATED"')).toBe(
        2 + statuses.filter((s) => s === 503).length,
      );
      expect(logins('http_response_status_code="401"')).toBe(
        statuses.filter((s) => s === 401).length,
      );
    } finally {
      await t.close();
    }
  });
});

describe("known devices off (knownDeviceDays 0)", () => {
  it("sets no device cookie and locks every caller out with the account", async () => {
    const t = await startTestApp({ loginMaxFailures: 2, knownDeviceDays: 0 });
    try {
      const email = uniqueEmail();
      const reg = await call(t.baseUrl, "POST", "/v1/register", {
        json: { email, password: strongPassword },
      });
      expect(reg.headers.getSetCookie().some((c) => c.includes("device"))).toBe(false);
      // A device row planted behind the service's back is not consulted.
      const planted = newSessionToken();
      await sql(t.databaseUrl, "INSERT INTO known_devices (user_id, token_hash) VALUES ($1, $2)", [
        reg.json.user.id,
        hashSessionToken(planted),
      ]);
      const login = (password: string) =>
        call(t.baseUrl, "POST", "/v1/login", {
          json: { email, password },
          cookie: `spillway_device=${planted}`,
        });
      for (let i = 0; i < 2; i++) expect((await login("wrong-password-here")).status).toBe(401);
      expect((await login(strongPassword)).status).toBe(429);
    } finally {
      await t.close();
    }
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
    // Sent together: one after another, four slow verifies on a busy host
    // let the bucket refill (1/s) before the fifth.
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        call(t.baseUrl, "POST", "/v1/login", {
          json: { email: uniqueEmail(), password: "some-password-1" },
        }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([401, 401, 401, 401, 429, 429]);
    const limited = results.find((r) => r.status === 429);
    expect(limited?.json.error.code).toBe("AUTH_RATE_LIMITED");
    expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const refused = results.filter((r) => r.status === 429).length;
    const metrics = await scrapeMetrics(t.app.opsUrl ?? "");
    expect(metrics.get('spillway_rate_limited_total{limit="credentials"}')).toBe(refused);
    // Session checks are not credential attempts and are not throttled.
    expect((await call(t.baseUrl, "GET", "/v1/session")).status).toBe(401);
  });
});

describe("behind a proxy (trustProxy)", () => {
  // A bucket of two, refilled 1/s, and cheap hashes: on a busy host two
  // verifies at full cost outlast the refill, and a third request finds a
  // token again.
  const startBehind = (trustProxy: string[]) =>
    startTestApp({
      ipBurst: 2,
      ipRefillPerSecond: 1,
      trustProxy,
      argon2MemoryKib: 1024,
      argon2TimeCost: 1,
    });
  const loginFrom = (t: TestApp, forwardedFor: string) =>
    call(t.baseUrl, "POST", "/v1/login", {
      json: { email: uniqueEmail(), password: "some-password-1" },
      headers: { "x-forwarded-for": forwardedFor },
    });

  it("gives each client the proxy forwards a bucket of its own, whatever it writes in the header", async () => {
    // The tests' requests come from 127.0.0.1: here, the proxy.
    const t = await startBehind(["loopback"]);
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
    const t = await startBehind(["10.0.0.0/8"]);
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
