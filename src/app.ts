import type { FastifyInstance } from "fastify";
import {
  Accounts,
  IpThrottle,
  PasswordHasher,
  PasswordPolicy,
  SessionCache,
} from "./auth/index.js";
import type { Config } from "./config/index.js";
import {
  Database,
  EmbeddedDatabase,
  migrate,
  NotificationListener,
  sessionRevokedChannel,
  statements,
} from "./db/index.js";
import { SpillwayError } from "./errors/index.js";
import { createHttpServer } from "./http/index.js";
import { type DatabasePool, PlainPool } from "./pool/index.js";

export interface Spillway {
  readonly config: Config;
  readonly http: FastifyInstance;
  readonly db: Database;
  readonly pool: DatabasePool;
  readonly accounts: Accounts;
  readonly hasher: PasswordHasher;
  readonly sessionCache: SessionCache;
  /** Present when no databaseUrl was given. */
  readonly embedded: EmbeddedDatabase | undefined;
  /** The database URL in use. */
  readonly databaseUrl: string;
  /** Starts listening; returns the base URL. */
  listen(): Promise<string>;
  /** Stops accepting, drains in-flight requests, closes connections, stops the embedded database. */
  close(): Promise<void>;
}

const readyTimeoutMs = 1000;

/** The composition root: builds every part of the service from one Config. */
export async function createSpillway(config: Config): Promise<Spillway> {
  const embedded = config.databaseUrl
    ? undefined
    : new EmbeddedDatabase({ dataDir: config.dataDir, port: config.embeddedPgPort });
  const databaseUrl = config.databaseUrl ?? (await embedded?.start()) ?? "";
  const cleanup: (() => Promise<void>)[] = [async () => embedded?.stop()];
  try {
    const pool = new PlainPool({
      connectionString: databaseUrl,
      max: config.poolMax,
      acquireTimeoutMs: config.poolAcquireTimeoutMs,
      statementTimeoutMs: config.statementTimeoutMs,
      idleInTransactionTimeoutMs: Math.max(config.statementTimeoutMs * 2, 10_000),
      applicationName: "spillway",
    });
    cleanup.unshift(() => pool.end());
    await migrate(pool);

    const sessionCache = new SessionCache({
      ttlMs: config.sessionCacheTtlMs,
      maxEntries: config.sessionCacheMaxEntries,
    });
    const listener = new NotificationListener({
      connectionString: databaseUrl,
      channel: sessionRevokedChannel,
      applicationName: "spillway-listener",
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
      memoryCostKib: config.argon2MemoryKib,
      timeCost: config.argon2TimeCost,
      parallelism: config.argon2Parallelism,
    });
    const accounts = new Accounts(config, {
      db,
      hasher,
      policy: new PasswordPolicy(config.passwordMinScore),
      cache: sessionCache,
      throttle: config.throttleEnabled
        ? new IpThrottle({ burst: config.ipBurst, refillPerSecond: config.ipRefillPerSecond })
        : undefined,
    });

    // After the HTTP server closed: operations whose client hung up still run.
    cleanup.unshift(() => accounts.drain());

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
    const http = await createHttpServer({ config, accounts, ready });
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
    return {
      config,
      http,
      db,
      pool,
      accounts,
      hasher,
      sessionCache,
      embedded,
      databaseUrl,
      listen: async () => {
        await http.listen({ port: config.port, host: config.host });
        const address = http.server.address();
        const port = typeof address === "object" && address ? address.port : config.port;
        const host = config.host.includes(":") ? `[${config.host}]` : config.host;
        return `http://${host}:${port}`;
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

/** Runs shutdown steps in order; one failing step does not skip the rest. */
async function runAll(steps: readonly (() => Promise<void>)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    await step().catch((err: unknown) => errors.push(err));
  }
  if (errors.length > 0) throw new AggregateError(errors, "shutdown steps failed");
}
