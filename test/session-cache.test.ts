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
    expect(slid.headers.get("set-cookie")).toMatch(
      new RegExp(`spillway_session=${reg.json.session.token}; Max-Age=1209600`),
    );
    expect(
      (await call(a.baseUrl, "GET", "/v1/session", { cookie })).headers.get("set-cookie"),
    ).toBeNull();
  });
});
