import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { AggregatorRegistry } from "prom-client";
import { createSpillway } from "../app.js";
import { resolveConfig } from "../config/index.js";
import { EmbeddedDatabase, migrate } from "../db/index.js";
import { isSpillwayError } from "../errors/index.js";
import { AdaptivePool } from "../pool/index.js";
import { freePort } from "../util/index.js";
import { parseCommand } from "./parse-flags.js";
import { type ClusterLog, serveCluster } from "./serve-cluster.js";
import { exitOnSignalUntilReady, onStopSignal } from "./signals.js";
import { usage } from "./usage.js";

const packageJson = JSON.parse(
  readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
) as {
  version: string;
};

/** Entry point of the `spillway` command; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseCommand(argv);
  if (parsed.version) {
    console.log(packageJson.version);
    return 0;
  }
  if (parsed.help || parsed.command === undefined || parsed.command === "help") {
    console.log(usage());
    return parsed.command === undefined && !parsed.help ? 1 : 0;
  }
  if (parsed.command === "lab") {
    try {
      return await lab(argv.slice(1));
    } catch (err) {
      // The lab's own failures (a target that cannot be reached, a port taken)
      // are a message, not a stack.
      console.error(`spillway lab: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
  }
  try {
    const config = resolveConfig(process.env, parsed.flags);
    switch (parsed.command) {
      case "serve":
        if (config.workers > 1 && cluster.isPrimary) {
          return await serveCluster(config, primaryLog);
        }
        return await serve(config);
      case "migrate":
        return await migrateOnly(config);
      default:
        console.error(`spillway: unknown command '${parsed.command}'\n\n${usage()}`);
        return 2;
    }
  } catch (err) {
    console.error(
      `spillway: ${isSpillwayError(err) ? err.message : err instanceof Error ? err.stack : String(err)}`,
    );
    return 1;
  }
}

async function serve(config: ReturnType<typeof resolveConfig>): Promise<number> {
  if (cluster.isWorker) {
    // The primary's ops listener asks every worker for its metrics: answer
    // (with none yet) from the start, so a scrape never waits on a worker
    // that is still starting. Constructing an aggregator installs the answer.
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([]);
  }
  const ready = exitOnSignalUntilReady();
  const app = await createSpillway(config, { closesOnSignals: true });
  const log = app.http.log;
  let url: string;
  try {
    url = await app.listen();
  } catch (err) {
    // Nothing may outlive a failed start: the embedded database least of all.
    await app.close().catch(() => {});
    throw err;
  }
  // A cluster worker's IPC channel would keep it alive after the drain.
  const exit = (code: number) => {
    if (cluster.isWorker) cluster.worker?.disconnect();
    return code;
  };
  if (cluster.isWorker) AggregatorRegistry.setRegistries([app.metrics]);
  log.info(
    {
      url,
      ...(app.opsUrl ? { ops: app.opsUrl } : {}),
      database: app.embedded ? `embedded (${app.embedded.dataDir})` : "DATABASE_URL",
    },
    "spillway ready",
  );
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info({ signal }, "shutting down: draining requests");
      const force = setTimeout(() => {
        log.error("drain timed out; exiting");
        resolve(exit(1));
      }, config.shutdownTimeoutMs);
      force.unref();
      app.close().then(
        () => {
          clearTimeout(force);
          log.info("stopped");
          resolve(exit(0));
        },
        (err: unknown) => {
          clearTimeout(force);
          log.error({ err }, "shutdown failed");
          resolve(exit(1));
        },
      );
    };
    ready();
    onStopSignal(stop);
  });
}

/** `spillway lab spike [--scenario NAME] [--config C ...] [--sweep] [--duration-scale X] [--json F] [--md F]` */
async function lab(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      scenario: { type: "string", default: "jan15" },
      config: { type: "string", multiple: true },
      sweep: { type: "boolean", default: false },
      "duration-scale": { type: "string", default: "1" },
      users: { type: "string" },
      target: { type: "string" },
      "target-ops": { type: "string" },
      "target-db": { type: "string" },
      json: { type: "string" },
      md: { type: "string" },
    },
  });
  if (positionals[0] !== "spike") {
    console.error(
      "usage: spillway lab spike [--scenario jan15|slow-query|net-latency|db-restart] [--config naive|fixed:N|spillway ...] [--sweep] [--duration-scale X] [--users N] [--target URL [--target-ops URL] [--target-db URL]] [--json FILE] [--md FILE]",
    );
    return 2;
  }
  const { runSpikeLab, toMarkdown } = await import("../lab/index.js");
  const scale = Number(values["duration-scale"]);
  const users = Number(values.users ?? (values.target ? 200 : 20_000));
  if (!(scale > 0) || !(users >= 1)) {
    console.error("spillway lab: --duration-scale must be > 0 and --users >= 1");
    return 2;
  }
  const target = values.target ? validUrl(values.target) : undefined;
  const targetOps = values["target-ops"] ? validUrl(values["target-ops"]) : undefined;
  if (target === null || targetOps === null) {
    console.error("spillway lab: --target and --target-ops take an http(s) URL");
    return 2;
  }
  if (target && (values.config || values.sweep)) {
    console.error(
      "spillway lab: --target drives the service at that URL; --config and --sweep start their own",
    );
    return 2;
  }
  const report = await runSpikeLab({
    scenario: values.scenario,
    configs: values.config ?? ["naive", "spillway"],
    sweep: values.sweep,
    durationScale: scale,
    users,
    ...(values.json ? { json: values.json } : {}),
    ...(values.md ? { md: values.md } : {}),
    progress: process.stderr.isTTY,
    ports: freePort,
    ...(target
      ? {
          target: {
            baseUrl: target,
            ...(targetOps ? { opsUrl: targetOps } : {}),
            ...(values["target-db"] ? { databaseUrl: values["target-db"] } : {}),
          },
        }
      : {}),
  });
  console.log(toMarkdown(report));
  return report.goals.every((g) => g.met) ? 0 : 3;
}

/** The URL's origin (the lab's paths are absolute), or null when it is not http(s). */
function validUrl(text: string): string | null {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.origin : null;
  } catch {
    return null;
  }
}

/** The cluster primary's log: JSON lines shaped as the workers' (pino's), on stdout. */
const primaryLine = (level: number, fields: object, msg: string) =>
  console.log(JSON.stringify({ level, time: Date.now(), ...fields, msg }));
const primaryLog: ClusterLog = {
  info: (msg) => primaryLine(30, {}, msg),
  warn: (fields, msg) => primaryLine(40, fields, msg),
  error: (fields, msg) => primaryLine(50, fields, msg),
};

async function migrateOnly(config: ReturnType<typeof resolveConfig>): Promise<number> {
  const embedded = config.databaseUrl
    ? undefined
    : new EmbeddedDatabase({ dataDir: config.dataDir, port: config.embeddedPgPort });
  const url = config.databaseUrl ?? (await embedded?.start()) ?? "";
  for (const notice of embedded?.notices ?? []) console.log(notice.line);
  const pool = new AdaptivePool({
    connectionString: url,
    maxConnections: 1,
    minConnections: 1,
    acquireTimeoutMs: config.poolAcquireTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
    applicationName: "spillway-migrate",
  });
  try {
    const result = await migrate(pool);
    console.log(
      result.applied.length > 0
        ? `applied migrations ${result.applied.join(", ")}; schema at version ${result.current}`
        : `schema up to date at version ${result.current}`,
    );
    return 0;
  } finally {
    await pool.end();
    await embedded?.stop();
  }
}
