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

const userCount = async () =>
  (await sql<{ n: number }>(t.databaseUrl, "SELECT count(*)::int AS n FROM users"))[0]?.n;

const raw = (path: string, body: string | Buffer, contentType = "application/json") =>
  call(t.baseUrl, "POST", path, { body, headers: { "content-type": contentType } });

describe("bad input never becomes a 500 or a half-written row", () => {
  it.each([
    ["wrong type", { email: 42, password: strongPassword }],
    ["password as object", { email: "a@example.com", password: { $gt: "" } }],
    ["missing email", { password: strongPassword }],
    ["missing password", { email: "a@example.com" }],
    ["unknown field", { email: "a@example.com", password: strongPassword, admin: true }],
    ["array body", [1, 2, 3]],
    ["null body", null],
    ["huge email", { email: `${"a".repeat(5000)}@example.com`, password: strongPassword }],
    ["displayName number", { email: "a@example.com", password: strongPassword, displayName: 7 }],
  ])("%s -> 400 REQUEST_INVALID", async (_name, json) => {
    const before = await userCount();
    const res = await call(t.baseUrl, "POST", "/v1/register", { json });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("REQUEST_INVALID");
    expect(await userCount()).toBe(before);
  });

  it("names the offending field", async () => {
    const res = await call(t.baseUrl, "POST", "/v1/login", { json: { email: "a@example.com" } });
    expect(res.json.error.details[0].field).toBe("password");
  });

  it("invalid JSON -> 400 REQUEST_MALFORMED", async () => {
    for (const body of ["{", "{'email': 1}", "nope", "", '{"email":"a@b.c",}']) {
      const res = await raw("/v1/login", body);
      expect(res.status, body).toBe(400);
      expect(res.json.error.code, body).toBe("REQUEST_MALFORMED");
    }
  });

  it("prototype poisoning -> 400", async () => {
    const res = await raw(
      "/v1/login",
      '{"email":"a@example.com","password":"x","__proto__":{"admin":true}}',
    );
    expect(res.status).toBe(400);
  });

  it("invalid UTF-8 -> 400 REQUEST_ENCODING_INVALID", async () => {
    const body = Buffer.concat([
      Buffer.from('{"email":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('@example.com","password":"x"}'),
    ]);
    const res = await raw("/v1/register", body);
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("REQUEST_ENCODING_INVALID");
  });

  it("lone surrogates -> 400 REQUEST_ENCODING_INVALID", async () => {
    const res = await raw(
      "/v1/register",
      `{"email":"a@example.com","password":"ab\\ud800cdefghijkl"}`,
    );
    expect(res.json.error.code).toBe("REQUEST_ENCODING_INVALID");
  });

  it("wrong content type -> 415, also for form posts to the API", async () => {
    for (const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
    ]) {
      const res = await raw("/v1/login", "email=a%40example.com&password=x", type);
      expect(res.status, type).toBe(415);
      expect(res.json.error.code).toBe("REQUEST_UNSUPPORTED_MEDIA_TYPE");
    }
  });

  it("body over the limit -> 413 REQUEST_TOO_LARGE", async () => {
    const res = await call(t.baseUrl, "POST", "/v1/register", {
      json: { email: "a@example.com", password: "x".repeat(100_000) },
    });
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe("REQUEST_TOO_LARGE");
  });

  it("a NUL or control character in the display name -> 400", async () => {
    const res = await call(t.baseUrl, "POST", "/v1/register", {
      json: { email: uniqueEmail(), password: strongPassword, displayName: "bad\u0000name" },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("REQUEST_INVALID");
  });

  it("a NUL in the email -> 400 AUTH_EMAIL_INVALID", async () => {
    const res = await call(t.baseUrl, "POST", "/v1/register", {
      json: { email: "a\u0000b@example.com", password: strongPassword },
    });
    expect(res.json.error.code).toBe("AUTH_EMAIL_INVALID");
  });

  it("a malformed session id -> 400, and 401 without a session", async () => {
    const reg = await call(t.baseUrl, "POST", "/v1/register", {
      json: { email: uniqueEmail(), password: strongPassword },
    });
    const res = await call(t.baseUrl, "DELETE", "/v1/sessions/not-a-uuid", {
      token: reg.json.session.token,
    });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("REQUEST_INVALID");
    // Without a session the answer is 401, whatever the id.
    const anonymous = await call(t.baseUrl, "DELETE", "/v1/sessions/not-a-uuid");
    expect(anonymous.status).toBe(401);
    expect(anonymous.json.error.code).toBe("AUTH_SESSION_INVALID");
  });

  it("SQL injection strings are stored literally", async () => {
    const displayName = "Robert'); DROP TABLE users;--";
    const email = `o'brien+${Date.now()}@example.com`;
    const res = await call(t.baseUrl, "POST", "/v1/register", {
      json: { email, password: strongPassword, displayName },
    });
    expect(res.status).toBe(201);
    const [row] = await sql<{ email: string; display_name: string }>(
      t.databaseUrl,
      "SELECT email, display_name FROM users WHERE id = $1",
      [res.json.user.id],
    );
    expect(row).toEqual({ email, display_name: displayName });
    const login = await call(t.baseUrl, "POST", "/v1/login", {
      json: { email: "' OR '1'='1", password: "' OR '1'='1" },
    });
    expect(login.json.error.code).toBe("AUTH_INVALID_CREDENTIALS");
    const inj = await call(t.baseUrl, "POST", "/v1/login", {
      json: { email: `${email}' --`, password: "x" },
    });
    expect(inj.status).toBe(401);
  });

  it("the service is still healthy after all of it", async () => {
    expect((await call(t.baseUrl, "GET", "/readyz")).status).toBe(200);
  });
});
