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
