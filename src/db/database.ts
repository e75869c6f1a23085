import type { AcquireOptions, DatabasePool, Lane } from "../pool/index.js";
import type { Statement } from "./statement.js";

export interface RunOptions {
  /** Overrides the statement's own lane. */
  lane?: Lane;
  signal?: AbortSignal;
}

/** Runs catalog statements through the pool; the only way the service touches SQL. */
export class Database {
  readonly pool: DatabasePool;

  constructor(pool: DatabasePool) {
    this.pool = pool;
  }

  async rows<P extends readonly unknown[], R>(
    stmt: Statement<P, R>,
    params: P,
    options: RunOptions = {},
  ): Promise<R[]> {
    const acquire: AcquireOptions = { lane: options.lane ?? stmt.lane };
    if (options.signal) acquire.signal = options.signal;
    const result = await this.pool.query<R>(
      { name: stmt.name, text: stmt.text, values: params },
      acquire,
    );
    return result.rows;
  }

  async first<P extends readonly unknown[], R>(
    stmt: Statement<P, R>,
    params: P,
    options?: RunOptions,
  ): Promise<R | undefined> {
    return (await this.rows(stmt, params, options))[0];
  }
}
