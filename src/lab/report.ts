import type { Goal } from "./goals.js";
import type { SecondStats } from "./load-driver.js";
import type { Route } from "./scenarios.js";

export interface Headline {
  /** Mean 2xx-within-500-ms per second during the spike. */
  goodputRps: number;
  /** Responses other than 2xx and deliberate 503 sheds, and client errors, after warm-up. */
  nonShedErrors: number;
  /** Requests slower than 5 s (answered or not), after warm-up. */
  over5s: number;
  baselineP99Ms: number;
  /** p99 of the responses that were not shed, during the spike. */
  admittedP99Ms: number;
  /**
   * The same without the spike's first second. The burst tolerance takes in
   * up to a second of hashes before the queue is judged standing, and in a
   * short spike that second alone can hold the top percent; this shows the
   * rest. The goal is judged on the whole spike.
   */
  admittedAfterOnsetP99Ms: number;
  /** p99 of the 503 sheds during the spike; 0 when nothing was shed. */
  shedP99Ms: number;
  /** Seconds after the spike until a second's p99 is back under 1.5x baseline; -1 if never. */
  recoveryS: number;
  /** null when the lab could not see the database (a target without its database URL). */
  peakDbConnections: number | null;
  /** The load generator's own event-loop delay, p99 over the spike seconds, ms (included in every latency). */
  clientLagP99Ms: number;
}

/** The service's own view, scraped from its ops listener at the start of a second. */
export interface PoolSample {
  /** Operations allowed in flight (adaptive limit; a plain pool's size). */
  limit: number;
  /** Connections the pool may hold (the connection budget's share). */
  hardCap: number;
  inUse: number;
  waiting: number;
  /** Password hashes queued. */
  hashWaiting: number;
}

/** What the lab sampled beside the load in one second; null when a sample did not come back in time. */
export interface SecondSample {
  /** Client connections to the run's database, from pg_stat_activity. */
  dbConnections: number | null;
  pool: PoolSample | null;
}

export interface SeriesPoint {
  second: number;
  phase: string;
  offered: number;
  ok: number;
  goodput: number;
  shed: number;
  shedByRoute: Record<Route, number>;
  shedByCode: Record<string, number>;
  otherErrors: number;
  /** Errors other than 503 by kind: the HTTP status, "socket" or "timeout". */
  otherByKind: Record<string, number>;
  clientLagP99Ms: number;
  p50Ms: Record<Route, number>;
  p99Ms: Record<Route, number>;
  /** p99 latency of this second's 503 sheds; 0 when none. */
  shedP99Ms: number;
  dbConnections: number | null;
  pool: PoolSample | null;
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

const all = (s: SecondStats) => [
  ...s.latencies.session,
  ...s.latencies.login,
  ...s.latencies.register,
];

export function series(seconds: SecondStats[], samples: SecondSample[]): SeriesPoint[] {
  const per = (s: SecondStats, q: number) => ({
    session: quantile(s.latencies.session, q),
    login: quantile(s.latencies.login, q),
    register: quantile(s.latencies.register, q),
  });
  return seconds.map((s) => ({
    second: s.second,
    phase: s.phase,
    offered: s.offered,
    ok: s.ok,
    goodput: s.goodput,
    shed: s.shed,
    shedByRoute: s.shedByRoute,
    shedByCode: s.shedByCode,
    clientLagP99Ms: s.clientLagP99Ms,
    otherErrors: s.otherErrors,
    otherByKind: s.otherByKind,
    p50Ms: per(s, 0.5),
    p99Ms: per(s, 0.99),
    shedP99Ms: quantile(s.shedLatencies, 0.99),
    dbConnections: samples[s.second]?.dbConnections ?? null,
    pool: samples[s.second]?.pool ?? null,
  }));
}

export function headline(seconds: SecondStats[], samples: SecondSample[]): Headline {
  const inPhase = (name: string) => seconds.filter((s) => s.phase === name);
  const spike = inPhase("spike");
  const baseline = inPhase("baseline");
  const recovery = inPhase("recovery");
  const measured = seconds.filter((s) => s.phase !== "warmup");
  const baselineP99Ms = quantile(baseline.flatMap(all), 0.99);
  const threshold = Math.max(1.5 * baselineP99Ms, 5);
  const recovered = recovery.findIndex(
    (s) => all(s).length > 0 && quantile(all(s), 0.99) <= threshold,
  );
  return {
    goodputRps: spike.length ? spike.reduce((n, s) => n + s.goodput, 0) / spike.length : 0,
    nonShedErrors: measured.reduce((n, s) => n + s.otherErrors, 0),
    over5s: measured.reduce((n, s) => n + s.over5s, 0),
    baselineP99Ms,
    admittedP99Ms: quantile(spike.flatMap(all), 0.99),
    admittedAfterOnsetP99Ms: quantile(spike.slice(1).flatMap(all), 0.99),
    shedP99Ms: quantile(
      spike.flatMap((s) => s.shedLatencies),
      0.99,
    ),
    recoveryS: recovered,
    peakDbConnections: samples.some((s) => typeof s?.dbConnections === "number")
      ? Math.max(0, ...samples.map((s) => s?.dbConnections ?? 0))
      : null,
    clientLagP99Ms: Math.max(0, ...spike.map((s) => s.clientLagP99Ms)),
  };
}

export interface RunReport {
  config: string;
  headline: Headline;
  series: SeriesPoint[];
  /** db-restart only. */
  restart?: { acknowledged: number; lost: number; backWithinS: number };
}

export interface LabReport {
  scenario: string;
  description: string;
  machine: { cores: number; node: string };
  date: string;
  durationScale: number;
  /** Connections each instance may hold; null against a target (unknown to the lab). */
  budget: number | null;
  runs: RunReport[];
  goals: Goal[];
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "—");

/** The report in Markdown: the summary table, the goals, and Mermaid charts over time. */
export function toMarkdown(report: LabReport): string {
  const lines = [
    `# Spike lab: ${report.scenario}`,
    "",
    `${report.description}. ${report.machine.cores} cores, Node ${report.machine.node}, ${report.date}, duration scale ${report.durationScale}.`,
    "",
    "| config | goodput in spike (2xx ≤ 500 ms /s) | errors other than 503 | requests > 5 s | baseline p99 | admitted p99 | admitted p99 after the spike's first second | shed p99 | recovery | peak DB connections | load generator's loop delay (worst p99 in the spike) |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...report.runs.map((r) => {
      const h = r.headline;
      return `| ${r.config} | ${fmt(h.goodputRps, 1)} | ${h.nonShedErrors} | ${h.over5s} | ${fmt(h.baselineP99Ms)} ms | ${fmt(h.admittedP99Ms)} ms | ${fmt(h.admittedAfterOnsetP99Ms)} ms | ${fmt(h.shedP99Ms)} ms | ${h.recoveryS < 0 ? "not within the run" : `${h.recoveryS} s`} | ${h.peakDbConnections ?? "—"} | ${fmt(h.clientLagP99Ms)} ms |`;
    }),
    "",
  ];
  const kinds = report.runs.flatMap((r) => {
    const byKind: Record<string, number> = {};
    for (const p of r.series.filter((p) => p.phase !== "warmup"))
      for (const [kind, n] of Object.entries(p.otherByKind)) byKind[kind] = (byKind[kind] ?? 0) + n;
    const listed = Object.entries(byKind).map(([kind, n]) => `${kind} ×${n}`);
    return listed.length ? [`${r.config}: ${listed.join(", ")}`] : [];
  });
  if (kinds.length) {
    lines.push(`Errors other than 503, by kind: ${kinds.join("; ")}.`);
    if (kinds.some((k) => k.includes("429 ×")))
      lines.push(
        "429 means the service rate-limited the lab's client (every request comes from 127.0.0.1): run a target with SPILLWAY_THROTTLE_ENABLED=false.",
      );
    lines.push("");
  }
  const restarts = report.runs.filter((r) => r.restart);
  if (restarts.length) {
    lines.push(
      "| config | registrations acknowledged | lost after restart | back after the database (s) |",
      "|---|---|---|---|",
    );
    for (const r of restarts)
      lines.push(
        `| ${r.config} | ${r.restart?.acknowledged} | ${r.restart?.lost} | ${fmt(r.restart?.backWithinS ?? -1, 1)} |`,
      );
    lines.push("");
  }
  if (report.goals.length) {
    lines.push("| goal | value | target | met |", "|---|---|---|---|");
    for (const g of report.goals)
      lines.push(
        `| ${g.description} | ${g.value} | ${g.op} ${g.target} | ${g.met ? "yes" : "**no**"} |`,
      );
    lines.push("");
  }
  const chart = (title: string, yLabel: string, value: (p: SeriesPoint) => number) => {
    const length = Math.max(...report.runs.map((r) => r.series.length));
    const xs = Array.from({ length }, (_, i) => i);
    lines.push(
      `## ${title}`,
      "",
      "```mermaid",
      "xychart-beta",
      `  title "${title}"`,
      `  x-axis "second" [${xs.join(", ")}]`,
      `  y-axis "${yLabel}"`,
      ...report.runs.map(
        (r) => `  line [${xs.map((i) => fmt(r.series[i] ? value(r.series[i]) : 0, 0)).join(", ")}]`,
      ),
      "```",
      "",
      `Lines, in order: ${report.runs.map((r) => r.config).join(", ")}.`,
      "",
    );
  };
  chart("Goodput (2xx within 500 ms per second)", "requests/s", (p) => p.goodput);
  chart("Deliberate 503 sheds per second", "requests/s", (p) => p.shed);
  chart("Errors other than 503 per second", "requests/s", (p) => p.otherErrors);
  chart("Session-check p99 latency", "ms", (p) => p.p99Ms.session);
  chart("Login p99 latency", "ms", (p) => p.p99Ms.login);
  chart("503 shed p99 latency", "ms", (p) => p.shedP99Ms);
  // From the service's ops listener; a second whose scrape did not come back draws as 0.
  chart("Pool limit (operations allowed in flight)", "operations", (p) => p.pool?.limit ?? 0);
  chart("Database operations in flight (pool in use)", "operations", (p) => p.pool?.inUse ?? 0);
  chart("Waiting for a database connection", "operations", (p) => p.pool?.waiting ?? 0);
  chart("Database connections (pg_stat_activity)", "connections", (p) => p.dbConnections ?? 0);
  return lines.join("\n");
}
