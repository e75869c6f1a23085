import pg from "pg";
import { SpillwayError } from "../errors/index.js";
import { toDatabaseError } from "./database-error.js";
import { connectionOptions } from "./plain-pool.js";
import type {
  ConnectionConfig,
  Connector,
  PhysicalConnection,
  QueryConfig,
  QueryResultLike,
} from "./types.js";

export interface PgConnectorConfig extends ConnectionConfig {
  /** Longest wait for a connection handshake. */
  connectTimeoutMs: number;
}

/**
 * Opens node-postgres connections. A handshake that outlives its timeout is
 * closed when it finally completes, never left open on the server (the
 * node-postgres zombie-connection bug).
 */
export function pgConnector(config: PgConnectorConfig): Connector {
  return () =>
    new Promise<PhysicalConnection>((resolve, reject) => {
      const client = new pg.Client({
        connectionString: config.connectionString,
        application_name: config.applicationName,
        options: connectionOptions(config),
        keepAlive: true,
      });
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new SpillwayError("DB_UNAVAILABLE", { message: "database connect timed out" }));
        client.end().catch(() => {});
      }, config.connectTimeoutMs);
      timer.unref();
      client.on("error", () => {}); // reported through onBroken
      client.connect().then(
        () => {
          clearTimeout(timer);
          if (settled) {
            client.end().catch(() => {});
            return;
          }
          settled = true;
          resolve(new PgConnection(client, config));
        },
        (err: unknown) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          client.end().catch(() => {});
          reject(toDatabaseError(err));
        },
      );
    });
}

class PgConnection implements PhysicalConnection {
  readonly #client: pg.Client;
  readonly #config: PgConnectorConfig;

  constructor(client: pg.Client, config: PgConnectorConfig) {
    this.#client = client;
    this.#config = config;
  }

  async query<R>(query: QueryConfig): Promise<QueryResultLike<R>> {
    try {
      return (await this.#client.query(query as pg.QueryConfig)) as unknown as QueryResultLike<R>;
    } catch (err) {
      throw toDatabaseError(err);
    }
  }

  cancel(): void {
    const active = (this.#client as unknown as { activeQuery?: unknown }).activeQuery;
    if (!active) return;
    // node-postgres cancels through a second, short-lived connection.
    const canceller = new pg.Client({ connectionString: this.#config.connectionString });
    canceller.on("error", () => {});
    (canceller as unknown as { cancel(c: pg.Client, q: unknown): void }).cancel(
      this.#client,
      active,
    );
  }

  end(): Promise<void> {
    return this.#client.end().catch(() => {});
  }

  onBroken(listener: (err: Error) => void): void {
    let fired = false;
    const once = (err: Error) => {
      if (fired) return;
      fired = true;
      listener(err);
    };
    this.#client.on("error", once);
    this.#client.on("end", () => once(new Error("connection ended")));
  }
}
