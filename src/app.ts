import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import {
  Accounts,
  InFlight,
  IpThrottle,
  loadDeviceTokens,
  PasswordHasher,
  PasswordPolicy,
  type PurgeStatement,
  RetentionPurge,
  SessionCache,
  Sessions,
} from "./auth/index.js";
import type { Config } from "./config/index.js";
import {
  Database,
  EmbeddedDatabase,
  logRestarts,
  migrate,
  NotificationListener,
  sessionRevokedChannel,
  statements,
} from "./db/index.js";
import { SpillwayError } from "./errors/index.js";
import { createHttpServer, createOpsServer, listeningUrl } from "./http/index.js";
import {
  AdaptivePool,
  AimdLimit,
  ConnectionBudget,
  type DatabasePool,
  FixedLimit,
  Gradient2Limit,
  type LimitAlgorithm,
  PlainPool,
  VegasLimit,
} from "./pool/index.js";
import { createMetrics, HttpRequestMetrics } from "./telemetry/index.js";

export interface Spillway {
  readonly config: Config;
  readonly http: FastifyInstance;
  readonly db: Database;
  readonly pool: DatabasePool;
  readonly accounts: Accounts;
  readonly sessions: Sessions;
  readonly hasher: PasswordHasher;
  readonly sessionCache: SessionCache;
  /** Deletes ended sessions on a timer. */
  readonly sessionPurge: RetentionPurge;
  /** Deletes auth events past their retention on a timer; absent when they are kept forever. */
  readonly eventPurge: RetentionPurge | undefined;
  /** Deletes known devices that have not logged in for knownDeviceDays on a timer. */
  readonly devicePurge: RetentionPurge;
  /** The Prometheus registry served at the ops listener's /metrics. */
  readonly metrics: Registry;
  /** Present when no databaseUrl was given. */
  readonly embedded: EmbeddedDatabase | undefined;
  /** The database URL in use. */
  readonly databaseUrl: string;
  /** Starts listening (and the ops listener when enabled); returns the base URL. */
  listen(): Promise<string>;
  /** The ops listener's base URL once listening; undefined when disabled. */
  readonly opsUrl: string | undefined;
  /** Stops accepting, drains in-flight requests, closes connections, stops the embedded database. */
  close(): Promise<void>;
}

const readyTimeoutMs = 1000;

export interface SpillwayOptions {
  /**
   * The caller closes the service on its stop signals (the CLI does): the
   * embedded database then runs in a session of its own, so a Ctrl-C, which
   * a terminal sends to its whole foreground process group, reaches only
   * the caller, and the database stops after the drain (see
   * EmbeddedDatabaseConfig.ownSession).
   */
  closesOnSignals?: boolean;
}

/** The composition root: builds every part of the service from one Config. */
export async function createSpillway(
  config: Config,
  options: SpillwayOptions = {},
): Promise<Spillway> {
  const embedded = config.databaseUrl
    ? undefined
    : new EmbeddedDatabase({
        dataDir: config.dataDir,
        port: config.embeddedPgPort,
        ownSession: options.closesOnSignals ?? false,
      });
  const databaseUrl = config.databaseUrl ?? (await embedded?.start()) ?? "";
  const cleanup: (() => Promise<void>)[] = [async () => embedded?.stop()];
  let connectionBudget: ConnectionBudget | undefined;
  try {
    const instanceId = randomUUID();
    const applicationPrefix = `spillway/${instanceId.slice(0, 8)}`;
    const pool = createPool(config, databaseUrl, applicationPrefix);
    cleanup.unshift(() => pool.end());
    await migrate(pool);
    if (pool instanceof AdaptivePool) {
      // Instances share max_connections through heartbeat rows; the LISTEN connection counts too.
      const budget = new ConnectionBudget(pool, {
        instanceId,
        applicationPrefix,
        heartbeatMs: config.poolHeartbeatMs,
        headroom: config.poolHeadroom,
        outsidePool: 1,
      });
      await budget.start();
      cleanup.unshift(() => budget.stop());
      connectionBudget = budget;
    }

    const sessionCache = new SessionCache({
      ttlMs: config.sessionCacheTtlMs,
      maxEntries: config.sessionCacheMaxEntries,
    });
    const listener = new NotificationListener({
      connectionString: databaseUrl,
      channel: sessionRevokedChannel,
      applicationName: `${applicationPrefix}/listen`,
    });
    listener.on("up", () => sessionCache.setTrusted(true));
    listener.on("down", () => sessionCache.setTrusted(false));
    listener.on("message", (tokenHashHex) => sessionCache.evict(tokenHashHex));
    cleanup.unshift(() => listener.stop());
    await listener.start();

    const db = new Database(pool);
    const hasher = new PasswordHasher({
      concurrency: config.hashConcurrency,
      queueMax: config.hashQueueMax,
      queueTimeoutMs: config.hashQueueTimeoutMs,
      queueTargetMs: config.hashQueueTargetMs,
      memoryCostKib: config.argon2MemoryKib,
      timeCost: config.argon2TimeCost,
      parallelism: config.argon2Parallelism,
      eventLoopLagLimitMs: config.hashEventLoopLagLimitMs,
      // Hashing and the password policy (threads of their own) run below
      // the event loop's CPU priority: on a saturated host session checks
      // and refusals are answered first.
      nice: config.hashThreadNice,
    });
    cleanup.unshift(() => hasher.close());
    await hasher.ready();
    const policy = new PasswordPolicy({
      minScore: config.passwordMinScore,
      workerNice: config.hashThreadNice,
    });
    cleanup.unshift(() => policy.close());
    policy.start();
    // Operations whose client hung up still run: shutdown waits for them.
    const inFlight = new InFlight();
    const throttles = {
      credentials: config.throttleEnabled
        ? new IpThrottle({ burst: config.ipBurst, refillPerSecond: config.ipRefillPerSecond })
        : undefined,
      session_lookups: config.throttleEnabled
        ? new IpThrottle({
            burst: config.sessionLookupBurst,
            refillPerSecond: config.sessionLookupRefillPerSecond,
          })
        : undefined,
    };
    const accounts = new Accounts(config, {
      db,
      hasher,
      policy,
      cache: sessionCache,
      inFlight,
      throttle: throttles.credentials,
      deviceTokens: await loadDeviceTokens(db),
    });
    const sessions = new Sessions(config, {
      db,
      cache: sessionCache,
      inFlight,
      lookupThrottle: throttles.session_lookups,
    });
    // After the HTTP server closed.
    cleanup.unshift(() => inFlight.drain());

    let closing = false;
    const ready = async () => {
      if (closing) throw new SpillwayError("SERVICE_SHUTTING_DOWN");
      const timeout = new Promise<never>((_, reject) => {
        setTimeout(
          () =>
            reject(new SpillwayError("DB_UNAVAILABLE", { message: "database check timed out" })),
          readyTimeoutMs,
        ).unref();
      });
      await Promise.race([db.first(statements.healthCheck, []), timeout]);
    };
    const httpRequests = new HttpRequestMetrics();
    const http = await createHttpServer({
      config,
      accounts,
      sessions,
      ready,
      requestMetrics: httpRequests,
    });
    observePool(pool, connectionBudget, http.log);
    for (const notice of embedded?.notices ?? []) http.log.warn(notice.fields, notice.message);
    if (embedded) logRestarts(embedded, http.log);
    const purge = (statement: PurgeStatement, retentionSeconds: number, what: string) => {
      const sweeper = new RetentionPurge(db, {
        statement,
        intervalMs: config.sessionPurgeIntervalSeconds * 1000,
        retentionSeconds,
      });
      sweeper.on("purged", (count) => http.log.info({ count }, `${what} purged`));
      sweeper.on("sweep-error", (err) =>
        http.log.warn({ err }, `${what} not purged; the next sweep tries again`),
      );
      sweeper.start();
      cleanup.unshift(() => sweeper.stop());
      return sweeper;
    };
    const sessionPurge = purge(
      statements.purgeEndedSessions,
      config.sessionRetentionSeconds,
      "ended sessions",
    );
    const eventPurge =
      config.authEventRetentionDays > 0
        ? purge(statements.purgeAuthEvents, config.authEventRetentionDays * 86_400, "auth events")
        : undefined;
    // knownDeviceDays 0 (devices not tracked): every known device is forgotten.
    const devicePurge = purge(
      statements.purgeKnownDevices,
      config.knownDeviceDays * 86_400,
      "known devices",
    );
    const metrics = createMetrics({
      pool,
      hasher,
      sessionCache,
      sessionPurge,
      eventPurge,
      devicePurge,
      throttles,
      httpRequests,
    });
    const ops = config.opsEnabled
      ? await createOpsServer({
          metrics: () => metrics.metrics(),
          contentType: metrics.contentType,
          host: config.opsHost,
        })
      : undefined;
    if (ops) cleanup.unshift(() => ops.close());
    cleanup.unshift(async () => {
      // Node closes only the connections idle when close() is called; a
      // keep-alive connection whose request finishes during the drain would
      // hold shutdown open, so idle ones are swept until the drain ends.
      const sweep = setInterval(() => http.server.closeIdleConnections(), 50);
      try {
        await http.close();
      } finally {
        clearInterval(sweep);
      }
    });

    let closed: Promise<void> | undefined;
    let opsUrl: string | undefined;
    return {
      config,
      http,
      db,
      pool,
      accounts,
      sessions,
      hasher,
      sessionCache,
      sessionPurge,
      eventPurge,
      devicePurge,
      metrics,
      embedded,
      databaseUrl,
      get opsUrl() {
        return opsUrl;
      },
      listen: async () => {
        await listenOn(http, config.port, config.host, "HTTP", "--port or PORT");
        if (ops) {
          await listenOn(ops, config.opsPort, config.opsHost, "ops", "--ops-port");
          opsUrl = listeningUrl(ops, config.opsHost);
        }
        return listeningUrl(http, config.host);
      },
      close: () => {
        closing = true;
        closed ??= runAll(cleanup);
        return closed;
      },
    };
  } catch (err) {
    await runAll(cleanup);
    throw err;
  }
}

function createPool(config: Config, databaseUrl: string, applicationName: string): DatabasePool {
  const idleInTransactionTimeoutMs = Math.max(config.statementTimeoutMs * 2, 10_000);
  if (config.poolMode === "plain") {
    return new PlainPool({
      connectionString: databaseUrl,
      max: config.poolMax,
      acquireTimeoutMs: config.poolAcquireTimeoutMs,
      statementTimeoutMs: config.statementTimeoutMs,
      idleInTransactionTimeoutMs,
      applicationName,
    });
  }
  return new AdaptivePool({
    connectionString: databaseUrl,
    applicationName,
    maxConnections: config.poolMax,
    minConnections: config.poolMin,
    limit: limitAlgorithm(config),
    acquireTimeoutMs: config.poolAcquireTimeoutMs,
    queueMax: config.poolQueueMax,
    queueTargetMs: config.poolQueueTargetMs,
    statementTimeoutMs: config.statementTimeoutMs,
    idleInTransactionTimeoutMs,
    leakThresholdMs: config.poolLeakThresholdMs,
  });
}

function limitAlgorithm(config: Config): LimitAlgorithm {
  const bounds = {
    minLimit: Math.min(2, config.poolMax),
    maxLimit: config.poolMax,
    initialLimit: Math.min(4, config.poolMax),
  };
  switch (config.poolLimit) {
    case "fixed":
      return new FixedLimit(config.poolMax);
    case "aimd":
      return new AimdLimit(bounds);
    case "gradient2":
      return new Gradient2Limit(bounds);
    case "vegas":
      return new VegasLimit(bounds);
  }
}

/** Logs what an operator must know about the pool: circuit, budget, leaks. */
function observePool(
  pool: DatabasePool,
  budget: ConnectionBudget | undefined,
  log: FastifyBaseLogger,
): void {
  if (!(pool instanceof AdaptivePool)) return;
  pool.on("circuit", ({ open }) =>
    open
      ? log.error("database unavailable: circuit open")
      : log.info("database back: circuit closed"),
  );
  pool.on("hard-cap-changed", (info) => log.info(info, "pool hard cap changed"));
  pool.on("leak", (info) => log.warn(info, "database connection held too long"));
  budget?.on("refresh-error", (err) => log.warn({ err }, "connection budget refresh failed"));
}

/** Listens, or says plainly which setting to change when the port is taken. */
async function listenOn(
  server: FastifyInstance,
  port: number,
  host: string,
  what: string,
  setting: string,
): Promise<void> {
  try {
    await server.listen({ port, host });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    throw new SpillwayError("CONFIG_INVALID", {
      message: `the ${what} port ${host}:${port} is in use; choose another with ${setting}`,
      cause: err,
    });
  }
}

/** Runs shutdown steps in order; one failing step does not skip the rest. */
async function runAll(steps: readonly (() => Promise<void>)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    await step().catch((err: unknown) => errors.push(err));
  }
  if (errors.length > 0) throw new AggregateError(errors, "shutdown steps failed");
}
