import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import cliProgress from "cli-progress";
import pg from "pg";
import { FaultProxy } from "./fault-proxy.js";
import { type Goal, goal } from "./goals.js";
import { LabDatabase, labEmails, labPassword } from "./lab-database.js";
import { drive } from "./load-driver.js";
import { headline, type LabReport, type RunReport, series, toMarkdown } from "./report.js";
import { scenario as makeScenario, type Scenario } from "./scenarios.js";
import { SecondSampler } from "./second-sampler.js";
import { startService } from "./service-process.js";
import { type LabApi, seedThroughApi, spillwayApi } from "./target-api.js";

export interface SpikeLabOptions {
  scenario: string;
  configs: string[];
  /** Also run fixed:N for several N to find the best fixed size. */
  sweep?: boolean;
  durationScale?: number;
  users?: number;
  sessions?: number;
  json?: string;
  md?: string;
  /** Draw progress bars (a terminal); otherwise quiet. */
  progress?: boolean;
  /** Free TCP ports for the database and the services. */
  ports: () => Promise<number>;
  /**
   * Drive a service that is already running instead of starting one (jan15
   * only: faults need the lab's own database). Accounts are created through
   * its API; `users` defaults to 200 then.
   */
  target?: LabTarget;
}

export interface LabTarget {
  baseUrl: string;
  /** The run's name in the report; "target" by default. */
  name?: string;
  /** How to speak to it; Spillway's API by default. */
  api?: LabApi;
  /** Its ops listener, for the pool series (Spillway only). */
  opsUrl?: string;
  /** Its database, for the connections it holds (pg_stat_activity). */
  databaseUrl?: string;
}

const sweepSizes = [5, 10, 20, 40];
const headroom = 2;

/**
 * Replays the outage on this machine: a seeded database, a baseline, a
 * sudden spike, recovery, optionally a fault, once per config, each against
 * its own copy of the data and its own service process. Writes JSON and a
 * Markdown report.
 */
export async function runSpikeLab(options: SpikeLabOptions): Promise<LabReport> {
  const scale = options.durationScale ?? 1;
  const sc = makeScenario(options.scenario, scale);
  if (options.target) return runAgainstTarget(sc, options.target, options);
  const configs = [
    ...new Set([...options.configs, ...(options.sweep ? sweepSizes.map((n) => `fixed:${n}`) : [])]),
  ];
  const db = new LabDatabase(await options.ports());
  const bars = options.progress
    ? new cliProgress.MultiBar(
        {
          format: " {config} |{bar}| {value}/{total} s  {phase}",
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_grey,
      )
    : undefined;
  const runs: RunReport[] = [];
  try {
    await db.start(options.users ?? 20_000, options.sessions ?? 2000);
    for (const [i, config] of configs.entries()) {
      const total = sc.phases.reduce((n, p) => n + p.seconds, 0);
      const bar = bars?.create(total, 0, { config: config.padEnd(9), phase: "starting" });
      runs.push(
        await runOne(db, sc, config, `run${i}`, options, (second, phase) =>
          bar?.update(second, { phase }),
        ),
      );
      bar?.update(total, { phase: "done" });
    }
  } finally {
    bars?.stop();
    await db.stop();
  }
  // Every instance's share: max_connections - 3 superuser slots - the lab's sampler - headroom.
  return writeReport(sc, runs, 100 - 3 - 1 - headroom, options);
}

function writeReport(
  sc: Scenario,
  runs: RunReport[],
  budget: number | null,
  options: SpikeLabOptions,
): LabReport {
  const report: LabReport = {
    scenario: sc.name,
    description: sc.description,
    machine: { cores: availableParallelism(), node: process.version },
    date: new Date().toISOString(),
    durationScale: options.durationScale ?? 1,
    budget,
    runs,
    goals: goals(sc, runs, budget),
  };
  if (options.json) writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
  if (options.md) writeFileSync(options.md, `${toMarkdown(report)}\n`);
  return report;
}

/** The lab against a service it did not start: accounts through the API, no database view. */
async function runAgainstTarget(
  sc: Scenario,
  target: LabTarget,
  options: SpikeLabOptions,
): Promise<LabReport> {
  if (sc.fault.kind !== "none") {
    throw new Error(`--target runs jan15 only: '${sc.name}' needs the lab's own database`);
  }
  const name = target.name ?? "target";
  const emails = labEmails(options.users ?? 200);
  const tokens = await seedThroughApi(
    target.baseUrl,
    target.api ?? spillwayApi,
    emails,
    labPassword,
  );
  const sampler = await SecondSampler.start({
    ...(target.databaseUrl ? { databaseUrl: target.databaseUrl } : {}),
    ...(target.opsUrl ? { opsUrl: target.opsUrl } : {}),
  });
  const result = await drive({
    baseUrl: target.baseUrl,
    ...(target.api ? { api: target.api } : {}),
    phases: sc.phases,
    tokens: tokens.slice(0, options.sessions ?? tokens.length),
    emails,
    password: labPassword,
    runId: `${name}-${Date.now().toString(36)}`,
    onSecond: (second) => sampler.take(second),
  }).finally(() => sampler.stop());
  const run: RunReport = {
    config: name,
    headline: headline(result.seconds, sampler.samples),
    series: series(result.seconds, sampler.samples),
  };
  return writeReport(sc, [run], null, options);
}

async function runOne(
  db: LabDatabase,
  sc: Scenario,
  config: string,
  runId: string,
  options: SpikeLabOptions,
  progress: (second: number, phase: string) => void,
): Promise<RunReport> {
  const runUrl = await db.createRunDatabase(runId, sc.fault.kind === "slow-query");
  let serviceDbUrl = runUrl;
  let proxy: FaultProxy | undefined;
  if (sc.fault.kind === "net-latency") {
    proxy = new FaultProxy({ host: "127.0.0.1", port: db.server.port }, sc.fault.latencyMs);
    const url = new URL(runUrl);
    url.port = String(await proxy.listen());
    serviceDbUrl = url.toString();
  }
  const service = await startService(
    serviceDbUrl,
    { http: await options.ports(), ops: await options.ports() },
    config,
  );
  const sampler = await SecondSampler.start({ databaseUrl: runUrl, opsUrl: service.opsUrl });
  let restartedAtSecond = -1;
  let spikeStart = -1;
  try {
    const result = await drive({
      baseUrl: service.baseUrl,
      phases: sc.phases,
      tokens: db.tokens,
      emails: db.emails,
      password: labPassword,
      runId,
      onSecond: (second, phase) => {
        progress(second, phase);
        sampler.take(second);
        if (phase === "spike" && spikeStart < 0) spikeStart = second;
        if (
          sc.fault.kind === "db-restart" &&
          spikeStart >= 0 &&
          second === spikeStart + sc.fault.atSpikeSecond
        ) {
          sampler.pauseDatabase();
          const downSeconds = sc.fault.downSeconds;
          const downMs = downSeconds * 1000;
          void db.server.stop().then(async () => {
            await new Promise((r) => setTimeout(r, downMs));
            await db.server.start();
            restartedAtSecond = second + downSeconds;
          });
        }
      },
    });
    const run: RunReport = {
      config,
      headline: headline(result.seconds, sampler.samples),
      series: series(result.seconds, sampler.samples),
    };
    if (sc.fault.kind === "db-restart") {
      while (!db.server.running) await new Promise((r) => setTimeout(r, 100));
      const check = new pg.Client({ connectionString: runUrl });
      await check.connect();
      const found = await check.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM users WHERE email = ANY($1)",
        [result.acknowledgedEmails],
      );
      await check.end();
      const after = result.seconds.slice(Math.max(0, restartedAtSecond));
      const back = after.findIndex((s) => s.ok > 0);
      run.restart = {
        acknowledged: result.acknowledgedEmails.length,
        lost: result.acknowledgedEmails.length - (found.rows[0]?.n ?? 0),
        backWithinS: restartedAtSecond < 0 || back < 0 ? -1 : back,
      };
    }
    return run;
  } finally {
    await sampler.stop();
    await service.stop();
    await proxy?.close();
  }
}

function goals(sc: Scenario, runs: RunReport[], budget: number | null): Goal[] {
  // Spillway's run; against a target, the target's (the lab cannot know what it runs).
  const ours =
    runs.find((r) => r.config === "spillway") ?? (runs.length === 1 ? runs[0] : undefined);
  if (!ours) return [];
  const h = ours.headline;
  const who = ours.config;
  if (sc.fault.kind === "db-restart") {
    return [
      goal(
        "restart-lost-registrations",
        "acknowledged registrations missing after the restart",
        ours.restart?.lost ?? -1,
        "<=",
        0,
      ),
      goal(
        "restart-back-within-s",
        "seconds from the database's return to the first 2xx (-1: never)",
        ours.restart?.backWithinS ?? -1,
        "<=",
        2,
      ),
    ];
  }
  const out = [
    goal(
      "non-shed-errors",
      `${who}: errors other than deliberate 503 sheds`,
      h.nonShedErrors,
      "<=",
      0,
    ),
    goal("over-5s", `${who}: requests slower than 5 s`, h.over5s, "<=", 0),
    goal("shed-p99-ms", `${who}: p99 latency of a 503 shed, ms`, h.shedP99Ms, "<=", 20),
    goal(
      "admitted-p99-vs-baseline",
      `${who}: admitted p99 in the spike ÷ baseline p99`,
      h.baselineP99Ms > 0 ? h.admittedP99Ms / h.baselineP99Ms : Number.POSITIVE_INFINITY,
      "<=",
      2,
    ),
    goal(
      "recovery-s",
      `${who}: seconds to p99 < 1.5x baseline after the spike (-1: not within the run)`,
      h.recoveryS < 0 ? 999 : h.recoveryS,
      "<=",
      5,
    ),
  ];
  if (budget !== null)
    out.push(
      goal(
        "peak-db-connections",
        `${who}: peak database connections (budget ${budget})`,
        h.peakDbConnections ?? -1,
        "<=",
        budget,
      ),
    );
  const fixed = runs.filter((r) => r.config.startsWith("fixed:"));
  if (fixed.length) {
    const best = Math.max(...fixed.map((r) => r.headline.goodputRps));
    out.push(
      goal(
        "goodput-vs-best-fixed",
        "spillway goodput in the spike ÷ the best fixed:N of the sweep",
        best > 0 ? h.goodputRps / best : 0,
        ">=",
        0.9,
      ),
    );
  }
  const naive = runs.find((r) => r.config === "naive");
  if (naive) {
    out.push(
      goal(
        "goodput-vs-naive",
        "spillway goodput in the spike ÷ naive's",
        naive.headline.goodputRps > 0
          ? h.goodputRps / naive.headline.goodputRps
          : Number.POSITIVE_INFINITY,
        ">",
        1,
      ),
    );
  }
  return out;
}
