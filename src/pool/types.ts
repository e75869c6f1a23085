/**
 * Priority of a database operation. `critical`: health, probes, migrations;
 * `interactive`: session checks and logins; `bulk`: registrations and audits.
 */
export type Lane = "critical" | "interactive" | "bulk";

/** Options for one acquire or query. */
export interface AcquireOptions {
  lane?: Lane;
  /** Aborts the wait for a connection (the request's remaining budget). */
  signal?: AbortSignal;
}

export interface QueryConfig {
  /** Prepared-statement name; the same name must always carry the same text. */
  name?: string;
  text: string;
  values?: readonly unknown[];
}

export interface QueryResultLike<R> {
  rows: R[];
  rowCount: number | null;
  /** The SQL command tag: SELECT, INSERT, ... */
  command: string;
}

/** A checked-out connection; `release()` exactly once. */
export interface PooledClient {
  query<R = Record<string, unknown>>(query: QueryConfig): Promise<QueryResultLike<R>>;
  release(destroy?: boolean | Error): void;
}

/**
 * The small surface the rest of Spillway needs from a database pool, so the
 * pool can be swapped without touching the code that uses it.
 */
export interface DatabasePool {
  query<R = Record<string, unknown>>(
    query: QueryConfig,
    options?: AcquireOptions,
  ): Promise<QueryResultLike<R>>;
  connect(options?: AcquireOptions): Promise<PooledClient>;
  end(): Promise<void>;
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

/** How to reach the database and what every connection is set to. */
export interface ConnectionConfig {
  connectionString: string;
  /** Server-side `statement_timeout` on every connection. */
  statementTimeoutMs: number;
  /** Server-side `idle_in_transaction_session_timeout` on every connection. */
  idleInTransactionTimeoutMs: number;
  applicationName: string;
}

/** One physical database connection, as the pool drives it. */
export interface PhysicalConnection {
  query<R = Record<string, unknown>>(query: QueryConfig): Promise<QueryResultLike<R>>;
  /** Asks the server to cancel the statement running on this connection. */
  cancel(): void;
  /** Closes the connection; never rejects. */
  end(): Promise<void>;
  /** Called once when the connection breaks (server gone, socket reset). */
  onBroken(listener: (err: Error) => void): void;
}

/** Opens one physical connection; the pool calls it in the background only. */
export type Connector = () => Promise<PhysicalConnection>;
