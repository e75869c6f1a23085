import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, strongPassword, uniqueEmail } from "./support/http-client.js";
import { sql, startTestApp, type TestApp } from "./support/test-app.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const register = (email: string, password = strongPassword, displayName?: string) =>
  call(t.baseUrl, "POST", "/v1/register", {
    json: { email, password, ...(displayName ? { displayName } : {}) },
  });

describe("POST /v1/register", () => {
  it("creates the account, a session and a session cookie", async () => {
    const email = uniqueEmail("Reg");
    const res = await register(email, strongPassword, "Ada Lovelace");
    expect(res.status).toBe(201);
    expect(res.json.user).toMatchObject({
      email: email.toLowerCase(),
      displayName: "Ada Lovelace",
    });
    expect(res.json.session.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Date(res.json.session.expiresAt).getTime()).toBeGreaterThan(
      Date.now() + 13 * 86_400_000,
    );
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toContain(`spillway_session=${res.json.session.token}`);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(res.headers.get("cache-control")).toBe("no-store");

    const rows = await sql<{ token_hash: Buffer }>(
      t.databaseUrl,
      "SELECT token_hash FROM sessions WHERE id = $1",
      [res.json.session.id],
    );
    // Only the SHA-256 of the token is stored.
    expect(rows[0]?.token_hash.length).toBe(32);
    expect(rows[0]?.token_hash.toString("base64url")).not.toBe(res.json.session.token);
    const events = await sql(t.databaseUrl, "SELECT kind FROM auth_events WHERE user_id = $1", [
      res.json.user.id,
    ]);
    expect(events.map((e) => e.kind)).toEqual(["register"]);
  });

  it("stores passwords as argon2id with the configured parameters", async () => {
    const res = await register(uniqueEmail());
    const [row] = await sql<{ password_hash: string }>(
      t.databaseUrl,
      "SELECT password_hash FROM users WHERE id = $1",
      [res.json.user.id],
    );
    expect(row?.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it("refuses a taken email, case-insensitively, without writing anything", async () => {
    const email = uniqueEmail();
    expect((await register(email)).status).toBe(201);
    const again = await register(`  ${email.toUpperCase()} `);
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("AUTH_EMAIL_TAKEN");
    const users = await sql(
      t.databaseUrl,
      "SELECT count(*)::int AS n FROM users WHERE email = $1",
      [email.toLowerCase()],
    );
    expect(users[0]?.n).toBe(1);
  });

  it("refuses weak passwords with the reason", async () => {
    for (const password of ["short", "password123", "qwertyuiop", "aaaaaaaaaaaa"]) {
      const res = await register(uniqueEmail(), password);
      expect(res.status, password).toBe(400);
      expect(res.json.error.code).toBe("AUTH_PASSWORD_WEAK");
      expect(res.json.error.message.length).toBeGreaterThan(25);
      expect(res.json.error.details.reason).toMatch(/too_short|guessable/);
    }
  });

  it("counts characters, not bytes: 256 accepted, 257 refused", async () => {
    const ok = await register(
      uniqueEmail(),
      // Strong head first: the policy judges the first 64 characters.
      strongPassword.repeat(3).slice(0, 56) + "é".repeat(200),
    );
    expect(ok.status).toBe(201);
    const long = await register(uniqueEmail(), `${"x1Y-".repeat(64)}z`);
    expect(long.status).toBe(400);
    expect(long.json.error.details.reason).toBe("too_long");
  });

  it("refuses the user's own email as a password", async () => {
    const email = uniqueEmail("rosalind.franklin");
    const res = await register(email, email);
    expect(res.json.error.code).toBe("AUTH_PASSWORD_WEAK");
  });

  it("refuses invalid emails", async () => {
    for (const email of [
      "plain",
      "a@b",
      "a@@b.com",
      "a b@c.com",
      "a@-b.com",
      ".a@b.com",
      "a..b@c.com",
      "a@b.123",
    ]) {
      const res = await register(email);
      expect(res.status, email).toBe(400);
      expect(res.json.error.code, email).toBe("AUTH_EMAIL_INVALID");
    }
  });
});

describe("POST /v1/login", () => {
  it("writes the user row only when a login changes it", async () => {
    const email = uniqueEmail("nowrite");
    const reg = await register(email);
    const userId = reg.json.user.id;
    const row = async () =>
      (
        await sql<{ version: string; failed_logins: number }>(
          t.databaseUrl,
          "SELECT xmin::text AS version, failed_logins FROM users WHERE id = $1",
          [userId],
        )
      )[0];
    const login = (password: string) =>
      call(t.baseUrl, "POST", "/v1/login", { json: { email, password } });
    const before = await row();
    expect((await login(strongPassword)).status).toBe(200);
    expect(await row()).toEqual(before); // a clean login: no new row version

    expect((await login("not-the-password-1")).status).toBe(401);
    expect((await row())?.failed_logins).toBe(1);
    expect((await login(strongPassword)).status).toBe(200);
    expect((await row())?.failed_logins).toBe(0); // cleared on success
    const events = await sql<{ n: number }>(
      t.databaseUrl,
      "SELECT count(*)::int AS n FROM auth_events WHERE user_id = $1 AND kind = 'login_success'",
      [userId],
    );
    expect(events[0]?.n).toBe(2);
  });

  it("logs in with the right password and issues a new session", async () => {
    const email = uniqueEmail();
    const reg = await register(email);
    const res = await call(t.baseUrl, "POST", "/v1/login", {
      json: { email: email.toUpperCase(), password: strongPassword },
    });
    expect(res.status).toBe(200);
    expect(res.json.user.id).toBe(reg.json.user.id);
    expect(res.json.session.id).not.toBe(reg.json.session.id);
    expect(res.headers.get("set-cookie")).toContain(res.json.session.token);
  });

  it("answers unknown email and wrong password alike", async () => {
    const email = uniqueEmail();
    await register(email);
    const wrong = await call(t.baseUrl, "POST", "/v1/login", {
      json: { email, password: "not-the-password-1" },
    });
    const unknown = await call(t.baseUrl, "POST", "/v1/login", {
      json: { email: uniqueEmail("nobody"), password: "not-the-password-1" },
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.json).toEqual(unknown.json);
    expect(wrong.json.error.code).toBe("AUTH_INVALID_CREDENTIALS");
  });

  it("spends a password verification on unknown emails too", async () => {
    const before = t.app.hasher.completed;
    const res = await call(t.baseUrl, "POST", "/v1/login", {
      json: { email: uniqueEmail("ghost"), password: "whatever-it-is-9" },
    });
    expect(res.json.error.code).toBe("AUTH_INVALID_CREDENTIALS");
    expect(t.app.hasher.completed - before).toBe(1);
  });

  /** Replaces a user's stored hash with one of `password` made with `params`; returns it. */
  const storeHash = async (
    userId: string,
    password: string,
    params: { memoryCost: number; timeCost: number },
    { nfkc = true } = {},
  ) => {
    const { hash } = await import("@node-rs/argon2");
    const encoded = await hash(password, { ...params, parallelism: 1, algorithm: 2 });
    await sql(
      t.databaseUrl,
      "UPDATE users SET password_hash = $1, password_nfkc = $2 WHERE id = $3",
      [encoded, nfkc, userId],
    );
    return encoded;
  };

  it("rehashes on login when the stored hash has old parameters", async () => {
    const email = uniqueEmail();
    const reg = await register(email);
    await storeHash(reg.json.user.id, strongPassword, { memoryCost: 4096, timeCost: 3 });
    const res = await call(t.baseUrl, "POST", "/v1/login", {
      json: { email, password: strongPassword },
    });
    expect(res.status).toBe(200);
    const [row] = await sql<{ password_hash: string }>(
      t.databaseUrl,
      "SELECT password_hash FROM users WHERE id = $1",
      [reg.json.user.id],
    );
    expect(row?.password_hash).toMatch(/m=19456,t=2,p=1/);
  });

  const composed = "Caf\u00e9-violet-harbour-tractor";
  const decomposed = "Cafe\u0301-violet-harbour-tractor";
  const login = (email: string, password: string) =>
    call(t.baseUrl, "POST", "/v1/login", { json: { email, password } });

  it("takes a password however its accents or widths were typed (NFKC)", async () => {
    const email = uniqueEmail();
    expect((await register(email, composed)).status).toBe(201);
    for (const typed of [decomposed, "\uff23\uff41\uff46\u00e9-violet-harbour-tractor"]) {
      expect((await login(email, typed)).status, typed).toBe(200);
    }
  });

  it("verifies a hash made before passwords were normalised as typed, then replaces it", async () => {
    const email = uniqueEmail();
    const reg = await register(email);
    const asTyped = await storeHash(
      reg.json.user.id,
      decomposed,
      { memoryCost: 19456, timeCost: 2 },
      { nfkc: false },
    );
    // The old hash knows only the password as it was typed.
    expect((await login(email, composed)).status).toBe(401);
    expect((await login(email, decomposed)).status).toBe(200);
    const [row] = await sql<{ password_hash: string; password_nfkc: boolean }>(
      t.databaseUrl,
      "SELECT password_hash, password_nfkc FROM users WHERE id = $1",
      [reg.json.user.id],
    );
    expect(row?.password_nfkc).toBe(true);
    expect(row?.password_hash).not.toBe(asTyped);
    expect((await login(email, composed)).status).toBe(200);
  });
});

describe("sessions", () => {
  it("GET /v1/session accepts the cookie and the bearer token, refuses anything else", async () => {
    const reg = await register(uniqueEmail());
    const token = reg.json.session.token as string;
    const byBearer = await call(t.baseUrl, "GET", "/v1/session", { token });
    const byCookie = await call(t.baseUrl, "GET", "/v1/session", {
      cookie: `spillway_session=${token}`,
    });
    expect(byBearer.status).toBe(200);
    expect(byCookie.json).toEqual(byBearer.json);
    expect(byBearer.json.user.id).toBe(reg.json.user.id);
    expect(byBearer.json.session.token).toBeUndefined();

    for (const bad of [undefined, "", "x", "A".repeat(43), `${token}x`]) {
      const res = await call(
        t.baseUrl,
        "GET",
        "/v1/session",
        bad === undefined ? {} : { headers: { authorization: `Bearer ${bad}` } },
      );
      expect(res.status, String(bad)).toBe(401);
      expect(res.json.error.code).toBe("AUTH_SESSION_INVALID");
    }
    const basic = await call(t.baseUrl, "GET", "/v1/session", {
      headers: { authorization: "Basic Zm9vOmJhcg==" },
    });
    expect(basic.json.error.code).toBe("AUTH_SESSION_INVALID");
  });

  it("lists sessions, revokes one, revokes all others", async () => {
    const email = uniqueEmail();
    const first = await register(email);
    const login = () =>
      call(t.baseUrl, "POST", "/v1/login", {
        json: { email, password: strongPassword },
        headers: { "user-agent": "test-agent/1" },
      });
    const second = await login();
    const third = await login();
    const token = third.json.session.token as string;

    const list = await call(t.baseUrl, "GET", "/v1/sessions", { token });
    expect(list.status).toBe(200);
    expect(list.json.sessions).toHaveLength(3);
    expect(
      list.json.sessions
        .filter((s: { current: boolean }) => s.current)
        .map((s: { id: string }) => s.id),
    ).toEqual([third.json.session.id]);
    expect(list.json.sessions[0].userAgent).toBe("test-agent/1");

    const del = await call(t.baseUrl, "DELETE", `/v1/sessions/${first.json.session.id}`, { token });
    expect(del.status).toBe(204);
    expect(
      (await call(t.baseUrl, "GET", "/v1/session", { token: first.json.session.token })).status,
    ).toBe(401);
    const again = await call(t.baseUrl, "DELETE", `/v1/sessions/${first.json.session.id}`, {
      token,
    });
    expect(again.json.error.code).toBe("AUTH_SESSION_NOT_FOUND");

    const others = await call(t.baseUrl, "DELETE", "/v1/sessions", { token });
    expect(others.json).toEqual({ revoked: 1 });
    expect(
      (await call(t.baseUrl, "GET", "/v1/session", { token: second.json.session.token })).status,
    ).toBe(401);
    expect((await call(t.baseUrl, "GET", "/v1/session", { token })).status).toBe(200);
  });

  it("cannot revoke another user's session", async () => {
    const alice = await register(uniqueEmail("alice"));
    const bob = await register(uniqueEmail("bob"));
    const res = await call(t.baseUrl, "DELETE", `/v1/sessions/${alice.json.session.id}`, {
      token: bob.json.session.token,
    });
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe("AUTH_SESSION_NOT_FOUND");
    expect(
      (await call(t.baseUrl, "GET", "/v1/session", { token: alice.json.session.token })).status,
    ).toBe(200);
  });

  it("logout revokes the current session at once, even from the cache", async () => {
    const reg = await register(uniqueEmail());
    const token = reg.json.session.token as string;
    expect((await call(t.baseUrl, "GET", "/v1/session", { token })).status).toBe(200);
    expect(t.app.sessionCache.size).toBeGreaterThan(0);
    const out = await call(t.baseUrl, "POST", "/v1/logout", { token });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toMatch(/spillway_session=;/);
    const after = await call(t.baseUrl, "GET", "/v1/session", { token });
    expect(after.status).toBe(401);
    expect((await call(t.baseUrl, "POST", "/v1/logout", { token })).status).toBe(401);
    const events = await sql(
      t.databaseUrl,
      "SELECT kind FROM auth_events WHERE session_id = $1 ORDER BY id",
      [reg.json.session.id],
    );
    expect(events.map((e) => e.kind)).toEqual(["register", "logout"]);
  });

  it("refuses an expired session", async () => {
    const reg = await register(uniqueEmail());
    await sql(
      t.databaseUrl,
      "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
      [reg.json.session.id],
    );
    t.app.sessionCache.setTrusted(t.app.sessionCache.trusted); // drop cached entries
    const res = await call(t.baseUrl, "GET", "/v1/session", { token: reg.json.session.token });
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe("AUTH_SESSION_INVALID");
  });
});

describe("POST /v1/password", () => {
  const newPassword = "amber-lantern-quietly-47";
  const change = (token: string, currentPassword: string, next = newPassword) =>
    call(t.baseUrl, "POST", "/v1/password", {
      json: { currentPassword, newPassword: next },
      token,
    });

  it("replaces the password, ends every session and issues a new one", async () => {
    const email = uniqueEmail("pw");
    const first = await register(email);
    const other = await call(t.baseUrl, "POST", "/v1/login", {
      json: { email, password: strongPassword },
    });
    const token = first.json.session.token as string;
    // Both sessions cached on this instance before the change.
    for (const s of [token, other.json.session.token])
      expect((await call(t.baseUrl, "GET", "/v1/session", { token: s })).status).toBe(200);

    const res = await change(token, strongPassword);
    expect(res.status).toBe(200);
    expect(res.json.user.id).toBe(first.json.user.id);
    const renewed = res.json.session.token as string;
    expect(renewed).not.toBe(token);
    expect(res.headers.get("set-cookie")).toContain(`spillway_session=${renewed}`);

    // The old sessions are refused at once (the cache too); the new one works.
    for (const s of [token, other.json.session.token])
      expect((await call(t.baseUrl, "GET", "/v1/session", { token: s })).status).toBe(401);
    const list = await call(t.baseUrl, "GET", "/v1/sessions", { token: renewed });
    expect(list.json.sessions.map((s: { id: string }) => s.id)).toEqual([res.json.session.id]);

    const login = (password: string) =>
      call(t.baseUrl, "POST", "/v1/login", { json: { email, password } });
    expect((await login(strongPassword)).json.error.code).toBe("AUTH_INVALID_CREDENTIALS");
    expect((await login(newPassword)).status).toBe(200);

    const events = await sql<{ kind: string; session_id: string }>(
      t.databaseUrl,
      "SELECT kind, session_id FROM auth_events WHERE user_id = $1 AND kind IN ('password_change', 'revoke') ORDER BY id",
      [first.json.user.id],
    );
    expect(events.map((e) => e.kind).sort()).toEqual(["password_change", "revoke", "revoke"]);
    expect(events.find((e) => e.kind === "password_change")?.session_id).toBe(res.json.session.id);
  });

  it("refuses a wrong current password, counting it towards the lockout, and changes nothing", async () => {
    const email = uniqueEmail("pw");
    const reg = await register(email);
    const token = reg.json.session.token as string;
    const [before] = await sql<{ password_hash: string }>(
      t.databaseUrl,
      "SELECT password_hash FROM users WHERE id = $1",
      [reg.json.user.id],
    );
    const res = await change(token, "not-the-password-at-all");
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe("AUTH_PASSWORD_INCORRECT");
    const [after] = await sql<{ password_hash: string; failed_logins: number }>(
      t.databaseUrl,
      "SELECT password_hash, failed_logins FROM users WHERE id = $1",
      [reg.json.user.id],
    );
    expect(after).toEqual({ password_hash: before?.password_hash, failed_logins: 1 });
    const [event] = await sql(
      t.databaseUrl,
      "SELECT kind, detail FROM auth_events WHERE user_id = $1 AND kind = 'login_failure'",
      [reg.json.user.id],
    );
    expect(event).toEqual({ kind: "login_failure", detail: { reason: "password_change" } });
    // The session is untouched.
    expect((await call(t.baseUrl, "GET", "/v1/session", { token })).status).toBe(200);
  });

  it("refuses a weak new password with the reason, before checking the current one", async () => {
    const email = uniqueEmail("pw");
    const reg = await register(email);
    const token = reg.json.session.token as string;
    for (const [next, problem] of [
      ["password1", /common|guess/i],
      ["short", /8/],
      [email, /email|guess|common/i],
    ] as const) {
      const res = await change(token, "wrong-current-password", next);
      expect(res.status, next).toBe(400);
      expect(res.json.error.code).toBe("AUTH_PASSWORD_WEAK");
      expect(res.json.error.message).toMatch(problem);
    }
    const [user] = await sql(t.databaseUrl, "SELECT failed_logins FROM users WHERE id = $1", [
      reg.json.user.id,
    ]);
    expect(user).toEqual({ failed_logins: 0 });
  });

  it("needs a session before anything else, and a body of the right shape", async () => {
    const anon = await call(t.baseUrl, "POST", "/v1/password", {
      json: { currentPassword: 1 },
    });
    expect(anon.status).toBe(401);
    expect(anon.json.error.code).toBe("AUTH_SESSION_INVALID");
    const token = (await register(uniqueEmail("pw"))).json.session.token as string;
    for (const json of [
      {},
      { currentPassword: strongPassword },
      { currentPassword: strongPassword, newPassword: 12345678 },
      { currentPassword: strongPassword, newPassword, extra: true },
      { currentPassword: strongPassword, newPassword: "x".repeat(2000) },
    ]) {
      const res = await call(t.baseUrl, "POST", "/v1/password", { json, token });
      expect(res.status, JSON.stringify(json).slice(0, 80)).toBe(400);
      expect(res.json.error.code).toBe("REQUEST_INVALID");
    }
    expect((await call(t.baseUrl, "GET", "/v1/session", { token })).status).toBe(200);
  });
});

describe("service endpoints", () => {
  it("healthz and readyz answer", async () => {
    expect((await call(t.baseUrl, "GET", "/healthz")).json).toEqual({ status: "ok" });
    expect((await call(t.baseUrl, "GET", "/readyz")).json).toEqual({ status: "ready" });
  });

  it("serves the OpenAPI document with every route", async () => {
    const doc = await call(t.baseUrl, "GET", "/docs/json");
    expect(doc.status).toBe(200);
    expect(doc.json.openapi).toMatch(/^3\./);
    for (const path of [
      "/v1/register",
      "/v1/login",
      "/v1/logout",
      "/v1/session",
      "/v1/sessions",
      "/v1/sessions/{id}",
      "/v1/password",
    ]) {
      expect(doc.json.paths, path).toHaveProperty([path]);
    }
  });

  it("documents replies without anyOf, which would cost a validator per reply", async () => {
    const doc = await call(t.baseUrl, "GET", "/docs/json");
    const replies = Object.values(doc.json.paths as Record<string, Record<string, unknown>>)
      .flatMap((methods) => Object.values(methods))
      .map((operation) => (operation as { responses: unknown }).responses);
    expect(replies.length).toBeGreaterThan(8);
    // fast-json-stringify serialises an anyOf by validating each branch (the
    // validators compiled on a route's first reply of that status).
    expect(JSON.stringify(replies)).not.toMatch(/"(anyOf|oneOf)"/);
    // The error codes are still documented, as an enum of the catalog.
    const errorCode =
      doc.json.paths["/v1/login"].post.responses["429"].content["application/json"].schema
        .properties.error.properties.code;
    expect(errorCode.enum).toContain("AUTH_RATE_LIMITED");
    expect(errorCode.enum).toContain("HASH_SATURATED");
  });

  it("sets security headers", async () => {
    const res = await call(t.baseUrl, "GET", "/login");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  });

  it("answers unknown routes with a code", async () => {
    const res = await call(t.baseUrl, "GET", "/v1/nope");
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe("REQUEST_NOT_FOUND");
    expect(res.headers.get("allow")).toBeNull();
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("answers a known path asked with another method 405, naming the methods it takes", async () => {
    const cases: [method: string, path: string, allow: string][] = [
      ["PUT", "/v1/login", "POST"],
      ["GET", "/v1/register?next=/account", "POST"],
      ["POST", "/v1/session", "GET, HEAD"],
      ["PATCH", "/v1/sessions", "DELETE, GET, HEAD"],
      // A path with a parameter matches as its route does.
      ["GET", "/v1/sessions/8a5c2a6e-3f0e-4c59-9d1e-0f6a2b7c9d10", "DELETE"],
      ["DELETE", "/login", "GET, HEAD, POST"],
      ["OPTIONS", "/healthz", "GET, HEAD"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await call(t.baseUrl, method, path);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 405 });
      expect(res.json.error.code).toBe("REQUEST_METHOD_NOT_ALLOWED");
      expect(res.headers.get("allow")).toBe(allow);
      // The API's headers under /v1, the pages' elsewhere.
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
    // A path no route has stays 404, whatever the method.
    expect((await call(t.baseUrl, "DELETE", "/v1/sessions/a/b")).status).toBe(404);
  });
});
