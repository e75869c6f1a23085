import pg from "pg";
import { SpillwayError } from "../errors/index.js";
import { toDatabaseError } from "./database-error.js";
import type {
  AcquireOptions,
  ConnectionConfig,
  DatabasePool,
  PooledClient,
  QueryConfig,
  QueryResultLike,
} from "./types.js";

export interface PlainPoolConfig extends ConnectionConfig {
  max: number;
  /** Longest wait for a connection before POOL_ACQUIRE_TIMEOUT. */
  acquireTimeoutMs: number;
  idleTimeoutMs?: number;
}

/** Session settings every connection starts with, sent in the startup packet. */
export function connectionOptions(config: ConnectionConfig): string {
  return [
    `-c statement_timeout=${config.statementTimeoutMs}`,
    `-c idle_in_transaction_session_timeout=${config.idleInTransactionTimeoutMs}`,
  ].join(" ");
}

/**
 * A fixed-size pool on `pg.Pool` behind the `DatabasePool` interface, with
 * driver failures mapped to Spillway's codes. The adaptive pool replaces it.
 */
export class PlainPool implements DatabasePool {
  readonly #pool: pg.Pool;
  /** The fixed size. */
  readonly max: number;

  constructor(config: PlainPoolConfig) {
    this.max = config.max;
    this.#pool = new pg.Pool({
      connectionString: config.connectionString,
      max: config.max,
      connectionTimeoutMillis: config.acquireTimeoutMs,
      idleTimeoutMillis: config.idleTimeoutMs ?? 30_000,
      application_name: config.applicationName,
      options: connectionOptions(config),
    });
    // An idle connection dropped by the server must not crash the process; the
    // pool discards it and the next acquire opens a fresh one.
    this.#pool.on("error", () => {});
  }

  get totalCount(): number {
    return this.#pool.totalCount;
  }
  get idleCount(): number {
    return this.#pool.idleCount;
  }
  get waitingCount(): number {
    return this.#pool.waitingCount;
  }

  async query<R>(query: QueryConfig, _options?: AcquireOptions): Promise<QueryResultLike<R>> {
    try {
      const result = await this.#pool.query(query as pg.QueryConfig);
      return result as unknown as QueryResultLike<R>;
    } catch (err) {
      throw this.#mapError(err);
    }
  }

  async connect(_options?: AcquireOptions): Promise<PooledClient> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw this.#mapError(err);
    }
    return {
      query: async <R>(query: QueryConfig) => {
        try {
          return (await client.query(query as pg.QueryConfig)) as unknown as QueryResultLike<R>;
        } catch (err) {
          throw toDatabaseError(err);
        }
      },
      release: (destroy) => client.release(destroy),
    };
  }

  end(): Promise<void> {
    return this.#pool.end();
  }

  #mapError(err: unknown): unknown {
    // pg-pool reports its acquire timeout with this message and no code.
    if (err instanceof Error && /timeout exceeded when trying to connect/.test(err.message)) {
      return this.#pool.waitingCount > 0 || this.#pool.totalCount > 0
        ? new SpillwayError("POOL_ACQUIRE_TIMEOUT", { cause: err, retryAfterSeconds: 1 })
        : new SpillwayError("DB_UNAVAILABLE", { cause: err });
    }
    return toDatabaseError(err);
  }
}
