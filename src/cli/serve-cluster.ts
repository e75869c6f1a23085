import cluster from "node:cluster";
import { availableParallelism } from "node:os";
import { AggregatorRegistry } from "prom-client";
import type { Config } from "../config/index.js";
import { EmbeddedDatabase, logRestarts, type RestartLog } from "../db/index.js";
import { createOpsServer, listeningUrl } from "../http/index.js";
import { exitOnSignalUntilReady, onStopSignal } from "./signals.js";

/**
 * `spillway serve --workers N`: N processes share the port (node:cluster),
 * each an instance in the connection budget. The primary only supervises:
 * it starts the embedded database when there is no DATABASE_URL, restarts a
 * worker that dies (later and later while replacements cannot start), serves
 * the ops listener with every worker's metrics summed, and on
 * SIGTERM/SIGINT/SIGHUP drains every worker before it stops the database. A
 * worker that cannot start before any has served fails the start, exit 1.
 */
/** The primary's log: lines at info, and what an operator must see at its level with its fields. */
export interface ClusterLog extends RestartLog {
  info(message: string): void;
}

export async function serveCluster(config: Config, log: ClusterLog): Promise<number> {
  const ready = exitOnSignalUntilReady();
  const embedded = config.databaseUrl
    ? undefined
    : new EmbeddedDatabase({
        dataDir: config.dataDir,
        port: config.embeddedPgPort,
        // Workers share the terminal's process group and drain on its Ctrl-C
        // themselves; the database stops after them.
        ownSession: true,
      });
  const databaseUrl = config.databaseUrl ?? (await embedded?.start()) ?? "";
  for (const notice of embedded?.notices ?? []) log.warn(notice.fields, notice.message);
  if (embedded) logRestarts(embedded, log);
  const hashConcurrency = Math.max(1, Math.floor(availableParallelism() / config.workers));
  const env: Record<string, string> = {
    SPILLWAY_DATABASE_URL: databaseUrl,
    SPILLWAY_WORKERS: "1",
    SPILLWAY_OPS_ENABLED: "false",
  };
  // Workers split the cores for hashing unless told otherwise.
  if (!process.env.SPILLWAY_HASH_CONCURRENCY)
    env.SPILLWAY_HASH_CONCURRENCY = String(hashConcurrency);
  let stopping = false;
  let stopCluster: (reason: string, failed: boolean) => Promise<void> = async () => {};
  // Workers that have listened; until one has, the start can still fail.
  const listened = new Set<number>();
  // Replacements in a row that exited before they listened: a crash loop.
  let failedStarts = 0;
  const restarts = new Set<NodeJS.Timeout>();
  const fork = () => {
    const worker = cluster.fork(env);
    // A worker that disconnects itself after draining leaves an IPC channel
    // that fails with EPIPE; that is not the primary's failure.
    worker.on("error", (err) => {
      if (!stopping) log.warn({ pid: worker.process.pid, reason: err.message }, "worker error");
    });
    return worker;
  };
  cluster.on("listening", (worker) => {
    listened.add(worker.id);
    failedStarts = 0;
  });
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    const fields = { pid: worker.process.pid, code, signal };
    if (listened.size === 0) {
      // No worker has served yet: the start failed (the worker said why), as
      // a single process's would. Restarting would only repeat it.
      log.error(fields, "a worker could not start; stopping");
      void stopCluster("start failed", true);
      return;
    }
    failedStarts = listened.has(worker.id) ? 0 : failedStarts + 1;
    const restartInMs = restartDelayMs(failedStarts);
    log.error({ ...fields, restartInMs }, "worker exited on its own; starting another");
    // Not unref'd: while every worker is down, this timer is what the
    // primary waits on. A stop clears it.
    const timer = setTimeout(() => {
      restarts.delete(timer);
      fork();
    }, restartInMs);
    restarts.add(timer);
  });
  for (let i = 0; i < config.workers; i++) fork();
  let opsUrl = "";
  const aggregator = new AggregatorRegistry();
  const ops = config.opsEnabled
    ? await createOpsServer({
        metrics: () => aggregator.clusterMetrics(),
        contentType: aggregator.contentType,
        host: config.opsHost,
      })
    : undefined;
  if (ops) {
    await ops.listen({ port: config.opsPort, host: config.opsHost });
    opsUrl = `, ops ${listeningUrl(ops, config.opsHost)}`;
  }
  log.info(
    `spillway primary ${process.pid}: ${config.workers} workers, database ${embedded ? `embedded (${embedded.dataDir})` : "DATABASE_URL"}${opsUrl}`,
  );

  return new Promise<number>((resolve) => {
    stopCluster = async (reason, failed) => {
      if (stopping) return;
      stopping = true;
      for (const timer of restarts) clearTimeout(timer);
      log.info(`${reason}: draining ${Object.keys(cluster.workers ?? {}).length} workers`);
      const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
      const exits = workers.map(
        (w) => new Promise<void>((r) => (w.isDead() ? r() : w.once("exit", () => r()))),
      );
      for (const w of workers) w.process.kill("SIGTERM");
      const timeout = new Promise<"timeout">((r) =>
        setTimeout(() => r("timeout"), config.shutdownTimeoutMs + 1000).unref(),
      );
      const result = await Promise.race([Promise.all(exits), timeout]);
      await ops?.close();
      await embedded?.stop();
      log.info("stopped");
      resolve(failed || result === "timeout" ? 1 : 0);
    };
    ready();
    onStopSignal((signal) => void stopCluster(signal, false));
  });
}

/**
 * How long the primary waits before it replaces a worker, given how many
 * replacements in a row exited before they listened: none at once, then 1,
 * 2, 4... s up to 30 s, so a worker that cannot start (its database gone)
 * is retried without a crash loop.
 */
export function restartDelayMs(failedStarts: number): number {
  return failedStarts === 0 ? 0 : Math.min(30_000, 1000 * 2 ** (failedStarts - 1));
}
