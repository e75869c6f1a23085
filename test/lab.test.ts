import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runSpikeLab } from "../src/lab/index.js";
import { labPassword } from "../src/lab/lab-database.js";
import { drive, type SecondStats } from "../src/lab/load-driver.js";
import { headline, quantile, toMarkdown } from "../src/lab/report.js";
import { scenario } from "../src/lab/scenarios.js";
import { seedThroughApi, spillwayApi } from "../src/lab/target-api.js";
import { freePort } from "./support/free-port.js";
import { call } from "./support/http-client.js";
import { sql, startTestApp } from "./support/test-app.js";

const out = mkdtempSync(join(tmpdir(), "spillway-labtest-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("spike lab", () => {
  it("replays a tiny jan15 against naive and spillway and reports honestly", async () => {
    const json = join(out, "spike.json");
    const md = join(out, "spike.md");
    const report = await runSpikeLab({
      scenario: "jan15",
      configs: ["naive", "spillway"],
      durationScale: 0.05,
      users: 500,
      sessions: 100,
      json,
      md,
      ports: freePort,
    });
    expect(report.runs.map((r) => r.config)).toEqual(["naive", "spillway"]);
    for (const run of report.runs) {
      const phases = new Set(run.series.map((p) => p.phase));
      expect([...phases]).toEqual(
        expect.arrayContaining(["warmup", "baseline", "spike", "recovery"]),
      );
      // Every answered request is counted exactly once in its second.
      const answered = run.series.reduce((n, p) => n + p.ok + p.shed + p.otherErrors, 0);
      expect(answered).toBeGreaterThan(0);
      expect(run.headline.peakDbConnections).toBeGreaterThan(0);
      expect(run.headline.goodputRps).toBeGreaterThan(0);
      // Every request the lab sends is valid: anything but 2xx or a 503 is a defect.
      expect(run.headline.nonShedErrors).toBe(0);
      // The service's own view of its pool, scraped from its ops listener.
      const pooled = run.series.filter((p) => p.pool !== null);
      expect(pooled.length).toBeGreaterThan(run.series.length / 2);
      for (const p of pooled) {
        expect(p.pool?.limit).toBeGreaterThanOrEqual(1);
        expect(p.pool?.inUse).toBeLessThanOrEqual(p.pool?.hardCap ?? 0);
      }
    }
    const [naive, ours] = report.runs;
    // naive is pg.Pool of 10: its limit is its size; spillway's cap is its budget share.
    expect(new Set(naive?.series.flatMap((p) => (p.pool ? [p.pool.limit] : [])))).toEqual(
      new Set([10]),
    );
    expect(Math.max(...(ours?.series.map((p) => p.pool?.hardCap ?? 0) ?? [0]))).toBeGreaterThan(10);
    // Goals are computed from the runs, met or not, never assumed.
    const ids = report.goals.map((g) => g.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        "non-shed-errors",
        "shed-p99-ms",
        "goodput-vs-naive",
        "peak-db-connections",
      ]),
    );
    for (const g of report.goals) expect(typeof g.met).toBe("boolean");
    const written = JSON.parse(readFileSync(json, "utf8"));
    expect(written.runs).toHaveLength(2);
    const markdown = readFileSync(md, "utf8");
    expect(markdown).toContain("| naive |");
    expect(markdown).toContain("```mermaid\nxychart-beta");
    expect(markdown).toContain("## Pool limit (operations allowed in flight)");
  }, 120_000);

  it("checks acknowledged registrations after a database restart", async () => {
    const report = await runSpikeLab({
      scenario: "db-restart",
      configs: ["spillway"],
      durationScale: 0.1,
      users: 300,
      sessions: 50,
      ports: freePort,
    });
    const restart = report.runs[0]?.restart;
    expect(restart).toBeDefined();
    expect(restart?.lost).toBe(0);
    expect(report.goals.map((g) => g.id)).toEqual([
      "restart-lost-registrations",
      "restart-back-within-s",
    ]);
  }, 120_000);
});

describe("spike lab --target", () => {
  it("drives a running service, creating its accounts through the API", async () => {
    const t = await startTestApp();
    try {
      const report = await runSpikeLab({
        scenario: "jan15",
        configs: [],
        durationScale: 0.05,
        users: 20,
        ports: freePort,
        target: { baseUrl: t.baseUrl, opsUrl: t.app.opsUrl ?? "" },
      });
      const run = report.runs[0];
      expect(report.runs).toHaveLength(1);
      expect(run?.config).toBe("target");
      expect(run?.headline.goodputRps).toBeGreaterThan(0);
      expect(run?.headline.nonShedErrors).toBe(0);
      expect(run?.series.some((p) => p.pool !== null)).toBe(true);
      // The lab sees no database of a target: no budget goal, and it says so.
      expect(report.budget).toBeNull();
      expect(report.goals.map((g) => g.id)).not.toContain("peak-db-connections");
      expect(report.goals.find((g) => g.id === "non-shed-errors")?.description).toMatch(
        /^target: /,
      );
      const rows = await sql<{ n: number }>(
        t.databaseUrl,
        "SELECT count(*)::int AS n FROM users WHERE email LIKE 'user%@lab.example'",
      );
      expect(rows[0]?.n).toBe(20);

      // Seeding again finds the accounts and logs in instead.
      const again = await seedThroughApi(
        t.baseUrl,
        spillwayApi,
        ["user1@lab.example", "user2@lab.example"],
        labPassword,
      );
      expect(again).toHaveLength(2);
      for (const token of again) {
        const res = await call(t.baseUrl, "GET", "/v1/session", { token });
        expect(res.status).toBe(200);
      }
      await expect(
        runSpikeLab({
          scenario: "db-restart",
          configs: [],
          ports: freePort,
          target: { baseUrl: t.baseUrl },
        }),
      ).rejects.toThrow(/jan15 only/);
    } finally {
      await t.close();
    }
  }, 120_000);
});

describe("seeding through the API", () => {
  it("waits out a 503 as Retry-After says and asks again; a 429 is fatal", async () => {
    const seen: string[] = [];
    let busy = 1;
    let limited = false;
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (limited) {
        res.writeHead(429, { "retry-after": "1" });
        res.end("{}");
      } else if (busy-- > 0) {
        res.writeHead(503, { "retry-after": "1", "content-type": "application/json" });
        res.end('{"error":{"code":"HASH_SATURATED"}}');
      } else {
        res.writeHead(201, { "content-type": "application/json" });
        res.end('{"session":{"token":"tok_1"}}');
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const started = performance.now();
      expect(await seedThroughApi(url, spillwayApi, ["a@lab.example"], labPassword)).toEqual([
        "tok_1",
      ]);
      expect(performance.now() - started).toBeGreaterThanOrEqual(900);
      expect(seen).toEqual(["POST /v1/register", "POST /v1/register"]);

      // Rate-limited: seeding does not wait it out (a lab target must not throttle it).
      limited = true;
      seen.length = 0;
      await expect(
        seedThroughApi(url, spillwayApi, ["b@lab.example"], labPassword),
      ).rejects.toThrow(/registration 429 \{\}, then login 429/);
      expect(seen).toEqual(["POST /v1/register", "POST /v1/login"]);
    } finally {
      server.close();
    }
  }, 60_000);
});

describe("load driver", () => {
  it("spreads the offered rate over each second instead of one burst at its top", async () => {
    const arrivals: number[] = [];
    const server = createServer((_req, res) => {
      arrivals.push(performance.now());
      res.end("{}");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    const get = () => ({ method: "GET" as const, path: "/", headers: {} });
    try {
      await drive({
        baseUrl: `http://127.0.0.1:${port}`,
        api: { session: get, login: get, register: get, credential: () => "x" },
        phases: [{ name: "spike", seconds: 2, rate: 400, connections: 80 }],
        tokens: ["t"],
        emails: ["e@lab.example"],
        password: "p",
        runId: "spread",
      });
    } finally {
      server.close();
    }
    expect(arrivals.length).toBeGreaterThan(600);
    // No 50 ms may carry a fifth of the second's load: a burst would put the
    // 80 connections' first requests (and their followers) in one. A stalled
    // event loop sends what fell due together once it runs again, as an open
    // model must, so what is judged is how many requests arrived in such
    // crowded windows: a few after a stall, nearly all of them in a burst.
    const start = arrivals[0] ?? 0;
    const windows = new Map<number, number>();
    for (const t of arrivals) {
      const w = Math.floor((t - start) / 50);
      windows.set(w, (windows.get(w) ?? 0) + 1);
    }
    const crowded = [...windows.values()].filter((n) => n >= 400 * 0.2);
    const inCrowds = crowded.reduce((sum, n) => sum + n, 0) / arrivals.length;
    expect(inCrowds).toBeLessThan(0.25);
  }, 30_000);
});

describe("scenarios and statistics", () => {
  it("a spike offers ten times the baseline", () => {
    const sc = scenario("jan15");
    const base = sc.phases.find((p) => p.name === "baseline")?.rate ?? 0;
    expect(sc.phases.find((p) => p.name === "spike")?.rate).toBe(base * 10);
    expect(() => scenario("nope")).toThrow(/unknown scenario/);
  });
  it("names the errors other than 503 by kind, and what a 429 means", () => {
    const point = (phase: string, otherByKind: Record<string, number>) => ({
      second: 0,
      phase,
      offered: 1,
      ok: 0,
      goodput: 0,
      shed: 0,
      shedByRoute: { session: 0, login: 0, register: 0 },
      shedByCode: {},
      otherErrors: Object.values(otherByKind).reduce((a, b) => a + b, 0),
      otherByKind,
      clientLagP99Ms: 0,
      p50Ms: { session: 0, login: 0, register: 0 },
      p99Ms: { session: 0, login: 0, register: 0 },
      shedP99Ms: 0,
      dbConnections: null,
      pool: null,
    });
    const md = toMarkdown({
      scenario: "jan15",
      description: "d",
      machine: { cores: 2, node: "v20" },
      date: "now",
      durationScale: 1,
      budget: null,
      goals: [],
      runs: [
        {
          config: "target",
          headline: headline([], []),
          series: [
            point("warmup", { "500": 9 }),
            point("spike", { "429": 2 }),
            point("spike", { "429": 1, timeout: 1 }),
          ],
        },
      ],
    });
    // Warm-up is not measured; the rest is summed by kind.
    expect(md).toContain("Errors other than 503, by kind: target: 429 ×3, timeout ×1.");
    expect(md).toContain("SPILLWAY_THROTTLE_ENABLED=false");
  });

  it("judges admitted latency on the whole spike, and shows it without the spike's first second", () => {
    const second = (n: number, phase: SecondStats["phase"], session: number[]): SecondStats => ({
      second: n,
      phase,
      offered: session.length,
      ok: session.length,
      goodput: session.length,
      shed: 0,
      otherErrors: 0,
      otherByKind: {},
      over5s: 0,
      latencies: { session, login: [], register: [] },
      shedLatencies: [],
      shedByRoute: { session: 0, login: 0, register: 0 },
      shedByCode: {},
      clientLagP99Ms: 0,
    });
    const fast = Array<number>(99).fill(10);
    const h = headline(
      [
        second(0, "baseline", [...fast, 20]),
        // The onset: a burst taken in that waits its turn.
        second(1, "spike", [...fast, ...Array<number>(10).fill(700)]),
        second(2, "spike", [...fast, 30]),
        second(3, "spike", [...fast, 40]),
      ],
      [],
    );
    expect(h.baselineP99Ms).toBe(20);
    expect(h.admittedP99Ms).toBe(700);
    expect(h.admittedAfterOnsetP99Ms).toBe(30);
  });

  it("quantiles", () => {
    expect(quantile([], 0.99)).toBe(0);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5)).toBe(6);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99)).toBe(10);
  });
});
