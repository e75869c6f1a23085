import { STATUS_CODES } from "node:http";
import { connect } from "node:net";
import { gzipSync } from "node:zlib";
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

/** Sends `request` as written on a new connection and reads until the server closes it. */
const rawExchange = (request: string, baseUrl = t.baseUrl) =>
  new Promise<string>((resolve, reject) => {
    const url = new URL(baseUrl);
    const socket = connect(Number(url.port), url.hostname, () => socket.write(request));
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => {
      answer += chunk;
    });
    socket.on("close", () => resolve(answer));
    socket.on("error", (err) => (answer ? resolve(answer) : reject(err)));
  });

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

  it("a key given twice -> 400 REQUEST_INVALID naming it, and no account for either value", async () => {
    const [first, second] = [uniqueEmail(), uniqueEmail()];
    const before = await userCount();
    const res = await raw(
      "/v1/register",
      `{"email":"${first}","password":"${strongPassword}","\\u0065mail":"${second}"}`,
    );
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({
      code: "REQUEST_INVALID",
      details: [{ field: "email", problem: "must appear only once" }],
    });
    expect(await userCount()).toBe(before);
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

  it("a compressed JSON body -> 415: content codings are not taken", async () => {
    const json = JSON.stringify({ email: "a@example.com", password: strongPassword });
    for (const [coding, body] of [
      ["gzip", gzipSync(json)],
      ["gzip", Buffer.from(json)], // mislabelled
      ["br, identity", Buffer.from(json)],
    ] as const) {
      const res = await call(t.baseUrl, "POST", "/v1/login", {
        body,
        headers: { "content-type": "application/json", "content-encoding": coding },
      });
      expect(res.status, coding).toBe(415);
      expect(res.json.error.code).toBe("REQUEST_UNSUPPORTED_MEDIA_TYPE");
    }
    const identity = await call(t.baseUrl, "POST", "/v1/login", {
      body: json,
      headers: { "content-type": "application/json", "content-encoding": "identity" },
    });
    expect(identity.json.error.code).toBe("AUTH_INVALID_CREDENTIALS");
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

  it("a password change with bad input answers 4xx and changes nothing", async () => {
    const reg = await call(t.baseUrl, "POST", "/v1/register", {
      json: { email: uniqueEmail("pwbad"), password: strongPassword },
    });
    const token = reg.json.session.token as string;
    const hash = async () =>
      (
        await sql<{ password_hash: string }>(
          t.databaseUrl,
          "SELECT password_hash FROM users WHERE id = $1",
          [reg.json.user.id],
        )
      )[0]?.password_hash;
    const before = await hash();
    const send = (body: string | Buffer, type = "application/json") =>
      call(t.baseUrl, "POST", "/v1/password", {
        body,
        token,
        headers: { "content-type": type },
      });
    const cases: Array<[string, string | Buffer, string, string?]> = [
      ["invalid JSON", "{", "REQUEST_MALFORMED"],
      [
        "invalid UTF-8",
        Buffer.concat([
          Buffer.from(`{"currentPassword":"${strongPassword}","newPassword":"`),
          Buffer.from([0xc3, 0x28]),
          Buffer.from('-amber-lantern-47"}'),
        ]),
        "REQUEST_ENCODING_INVALID",
      ],
      [
        "lone surrogate",
        `{"currentPassword":"${strongPassword}","newPassword":"amber\\ud800lantern-47"}`,
        "REQUEST_ENCODING_INVALID",
      ],
      [
        "key twice",
        `{"currentPassword":"${strongPassword}","newPassword":"amber-lantern-quietly-47","newPassword":"x"}`,
        "REQUEST_INVALID",
      ],
      [
        "huge",
        `{"currentPassword":"${"x".repeat(20_000)}","newPassword":"y"}`,
        "REQUEST_TOO_LARGE",
      ],
      [
        "form post",
        `currentPassword=${strongPassword}&newPassword=amber-lantern-quietly-47`,
        "REQUEST_UNSUPPORTED_MEDIA_TYPE",
        "application/x-www-form-urlencoded",
      ],
    ];
    for (const [name, body, code, type] of cases) {
      const res = await send(body, type);
      expect(res.status, name).toBeGreaterThanOrEqual(400);
      expect(res.status, name).toBeLessThan(500);
      expect(res.json.error.code, name).toBe(code);
    }
    expect(await hash()).toBe(before);
    expect((await call(t.baseUrl, "GET", "/v1/session", { token })).status).toBe(200);
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

  it("a URL the router cannot read -> 400 REQUEST_URL_INVALID or 414 REQUEST_URL_TOO_LONG", async () => {
    const encoding = await call(t.baseUrl, "DELETE", "/v1/sessions/%ZZ");
    expect(encoding.status).toBe(400);
    expect(encoding.json).toEqual({
      error: { code: "REQUEST_URL_INVALID", message: "The request URL is not valid" },
    });
    expect(encoding.headers.get("x-content-type-options")).toBe("nosniff");
    const long = await call(t.baseUrl, "DELETE", `/v1/sessions/${"a".repeat(150)}`);
    expect(long.status).toBe(414);
    expect(long.json.error.code).toBe("REQUEST_URL_TOO_LONG");
  });

  it.each([
    ["a request line that is not HTTP", 400, "REQUEST_HTTP_INVALID", "GARBAGE\r\n\r\n"],
    [
      "a control character in a header",
      400,
      "REQUEST_HTTP_INVALID",
      "GET / HTTP/1.1\r\nHost: x\r\nX: a\u0001b\r\n\r\n",
    ],
    [
      "headers over Node's 16 KiB",
      431,
      "REQUEST_HEADERS_TOO_LARGE",
      `GET / HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(20_000)}\r\n\r\n`,
    ],
  ] as const)("%s -> %i %s, in the same shape", async (_name, status, code, request) => {
    const answer = await rawExchange(request);
    expect(answer.split("\r\n", 1)[0]).toBe(`HTTP/1.1 ${status} ${STATUS_CODES[status]}`);
    const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
    expect(body.error.code).toBe(code);
    // The API's security headers, as on every JSON error.
    expect(answer).toContain("content-security-policy: default-src 'none'");
    expect(answer).toContain("x-content-type-options: nosniff");
  });

  it("OPTIONS * (no path) -> 404, not the Allow of /", async () => {
    const answer = await rawExchange("OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(answer.split("\r\n", 1)[0]).toBe("HTTP/1.1 404 Not Found");
    expect(answer.toLowerCase()).not.toContain("allow:");
  });

  it("the service is still healthy after all of it", async () => {
    expect((await call(t.baseUrl, "GET", "/readyz")).status).toBe(200);
  });
});

describe("a request that arrives too slowly", () => {
  let slow: TestApp;
  beforeAll(async () => {
    slow = await startTestApp({ requestTimeoutMs: 600 });
  });
  afterAll(async () => {
    await slow?.close();
  });

  it.each([
    ["its headers", "GET /healthz HTTP/1.1\r\nHost: x\r\n"],
    [
      "its body",
      'POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email":',
    ],
  ])(
    "never finishing %s -> 408 REQUEST_TIMEOUT and the connection closed",
    async (_part, request) => {
      const started = performance.now();
      const answer = await rawExchange(request, slow.baseUrl);
      expect(answer.split("\r\n", 1)[0]).toBe("HTTP/1.1 408 Request Timeout");
      expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)).error.code).toBe(
        "REQUEST_TIMEOUT",
      );
      // Answered at the timeout, not at Node's 30 s check interval.
      expect(performance.now() - started).toBeLessThan(5_000);
    },
  );
});
