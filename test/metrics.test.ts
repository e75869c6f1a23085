import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMetrics, scrapeMetrics } from "../src/lab/metrics-scrape.js";
import { call, strongPassword, uniqueEmail } from "./support/http-client.js";
import { startTestApp, type TestApp } from "./support/test-app.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ poolMax: 7 });
});
afterAll(async () => {
  await t?.close();
});

const pool = 'db_client_connection_pool_name="spillway"';

describe("ops listener", () => {
  it("serves Prometheus metrics on its own loopback listener, not on the public one", async () => {
    const opsUrl = t.app.opsUrl ?? "";
    expect(opsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(opsUrl).not.toBe(t.baseUrl);

    const res = await fetch(`${opsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const text = await res.text();
    expect(text).toContain("# TYPE db_client_connection_count gauge");
    expect(text).toContain("# TYPE spillway_db_pool_shed_total counter");
    expect(text).toContain("# TYPE nodejs_eventloop_lag_p99_seconds gauge");

    const publicRes = await call(t.baseUrl, "GET", "/metrics");
    expect(publicRes.status).toBe(404);
    expect(publicRes.json.error.code).toBe("REQUEST_NOT_FOUND");
    const unknown = await fetch(`${opsUrl}/nothing-here`);
    expect(unknown.status).toBe(404);
    const posted = await fetch(`${opsUrl}/metrics`, { method: "POST" });
    expect(posted.status).toBe(405);
    expect(posted.headers.get("allow")).toBe("GET, HEAD");
  });

  it("answers only loopback host names, so a page rebinding its name to 127.0.0.1 reads nothing", async () => {
    const port = new URL(t.app.opsUrl ?? "").port;
    const withHost = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          { host: "127.0.0.1", port, path: "/metrics", headers: { host } },
          (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (chunk) => {
              body += chunk;
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        req.end();
      });
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      "LOCALHOST",
      `[::1]:${port}`,
      "127.1.2.3",
    ]) {
      const res = await withHost(host);
      expect(res.status, host).toBe(200);
      expect(res.body).toContain("db_client_connection_count");
    }
    for (const host of [
      `attacker.example:${port}`,
      "127.0.0.1.nip.io",
      "[::2]",
      "localhost.attacker.example",
      "a b",
    ]) {
      const res = await withHost(host);
      expect(res.status, host).toBe(421);
      expect(JSON.parse(res.body).error.code).toBe("OPS_HOST_REFUSED");
      expect(res.body).not.toContain("db_client");
    }
  });

  it("reports the pool's shape and the work done, read at scrape time", async () => {
    const before = await scrapeMetrics(t.app.opsUrl ?? "");
    expect(before.get(`db_client_connection_max{${pool}}`)).toBe(7);
    const limit = before.get("spillway_db_pool_limit") ?? 0;
    expect(limit).toBeGreaterThanOrEqual(1);
    expect(limit).toBeLessThanOrEqual(7);
    expect(before.get(`db_client_connection_pending_requests{${pool}}`)).toBe(0);
    expect(before.get("spillway_db_pool_circuit_open")).toBe(0);

    const email = uniqueEmail("metrics");
    const reg = await call(t.baseUrl, "POST", "/v1/register", {
      json: { email, password: strongPassword },
    });
    expect(reg.status).toBe(201);
    const login = await call(t.baseUrl, "POST", "/v1/login", {
      json: { email, password: strongPassword },
    });
    expect(login.status).toBe(200);
    const check = await call(t.baseUrl, "GET", "/v1/session", { token: login.json.session.token });
    expect(check.status).toBe(200);

    const after = await scrapeMetrics(t.app.opsUrl ?? "");
    const hashes = (m: Map<string, number>) => m.get("spillway_password_hash_completed_total") ?? 0;
    // One hash for the registration, one verification for the login.
    expect(hashes(after) - hashes(before)).toBe(2);
    expect(after.get("spillway_session_cache_entries")).toBeGreaterThanOrEqual(1);
    // Nothing was refused: the hashing was never overloaded.
    expect(after.get("spillway_password_hash_refused_total")).toBe(0);
    expect(after.get("spillway_password_hash_overloaded")).toBe(0);
    const open =
      (after.get(`db_client_connection_count{${pool},db_client_connection_state="used"}`) ?? -1) +
      (after.get(`db_client_connection_count{${pool},db_client_connection_state="idle"}`) ?? -1);
    expect(open).toBeGreaterThanOrEqual(1);
    expect(open).toBeLessThanOrEqual(7);
  });

  it("counts every answer by method, route template and status, never by the path as sent", async () => {
    const duration = "http_server_request_duration_seconds";
    const series = (labels: string) => `${duration}_count{${labels}}`;
    const login401 = series(
      'http_request_method="POST",http_route="/v1/login",http_response_status_code="401"',
    );
    const register201 = series(
      'http_request_method="POST",http_route="/v1/register",http_response_status_code="201"',
    );
    const revoke = series(
      'http_request_method="DELETE",http_route="/v1/sessions/:id",http_response_status_code="404"',
    );
    const notFound = series('http_request_method="GET",http_response_status_code="404"');
    const other = series('http_request_method="_OTHER",http_response_status_code="405"');
    const before = await scrapeMetrics(t.app.opsUrl ?? "");

    const email = uniqueEmail("http-metrics");
    const reg = await call(t.baseUrl, "POST", "/v1/register", {
      json: { email, password: strongPassword },
    });
    expect(reg.status).toBe(201);
    const token = reg.json.session.token as string;
    for (let i = 0; i < 2; i++) {
      const wrong = await call(t.baseUrl, "POST", "/v1/login", {
        json: { email, password: `${strongPassword}-not` },
      });
      expect(wrong.status).toBe(401);
    }
    const missing = "0190c2a8-0000-7000-8000-000000000000";
    const revoked = await call(t.baseUrl, "DELETE", `/v1/sessions/${missing}`, { token });
    expect(revoked.status).toBe(404);
    const stray = await call(t.baseUrl, "GET", `/v1/no-such-route/${token}`);
    expect(stray.status).toBe(404);
    const odd = await call(t.baseUrl, "PROPFIND", "/v1/session");
    expect(odd.status).toBe(405);

    const text = await (await fetch(`${t.app.opsUrl}/metrics`)).text();
    expect(text).toContain(`# TYPE ${duration} histogram`);
    // The token in a path never becomes a label; no session id either.
    expect(text).not.toContain(token);
    expect(text).not.toContain(missing);
    const after = await scrapeMetrics(t.app.opsUrl ?? "");
    const added = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
    expect(added(register201)).toBe(1);
    expect(added(login401)).toBe(2);
    expect(added(revoke)).toBe(1);
    expect(added(notFound)).toBe(1);
    expect(added(other)).toBe(1);
    // Each answer lands in the histogram's buckets: the slowest bucket holds all.
    const all = series(
      'le="+Inf",http_request_method="POST",http_route="/v1/login",http_response_status_code="401"',
    ).replace("_count{", "_bucket{");
    expect(after.get(all)).toBe(after.get(login401));
    // A 4xx is the client's: no error_type.
    expect(
      [...after.keys()].filter((k) => k.startsWith(duration) && k.includes("error_type")),
    ).toEqual([]);
  });
});

describe("parseMetrics", () => {
  it("keys samples as printed and skips comments and junk", () => {
    const m = parseMetrics(
      [
        "# HELP x help",
        "# TYPE x gauge",
        "x 3",
        'y{a="1",b="two words"} 2.5',
        "z NaN",
        "not a sample",
        "",
      ].join("\n"),
    );
    expect([...m]).toEqual([
      ["x", 3],
      ['y{a="1",b="two words"}', 2.5],
    ]);
  });
});
