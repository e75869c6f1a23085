import pg from "pg";
import { scrapeMetrics } from "./metrics-scrape.js";
import type { PoolSample, SecondSample } from "./report.js";

const poolLabel = 'db_client_connection_pool_name="spillway"';

/**
 * What the lab watches beside the load, once a second: the client
 * connections to the service's database (pg_stat_activity, itself excluded)
 * and the service's own pool, scraped from its ops listener. A sample that
 * does not come back within its second stays null.
 */
export class SecondSampler {
  readonly samples: SecondSample[] = [];
  readonly #client: pg.Client | undefined;
  readonly #opsUrl: string | undefined;
  #databasePaused = false;

  private constructor(client: pg.Client | undefined, opsUrl: string | undefined) {
    this.#client = client;
    this.#opsUrl = opsUrl;
  }

  static async start(watch: { databaseUrl?: string; opsUrl?: string }): Promise<SecondSampler> {
    const client = watch.databaseUrl
      ? new pg.Client({
          connectionString: watch.databaseUrl,
          application_name: "spillway-lab-sampler",
        })
      : undefined;
    client?.on("error", () => {});
    await client?.connect();
    return new SecondSampler(client, watch.opsUrl);
  }

  /** Starts the samples of `second`. */
  take(second: number): void {
    const sample: SecondSample = { dbConnections: null, pool: null };
    this.samples[second] = sample;
    if (this.#client && !this.#databasePaused) {
      this.#client
        .query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
        )
        .then((r) => {
          sample.dbConnections = r.rows[0]?.n ?? 0;
        })
        .catch(() => {});
    }
    if (this.#opsUrl) {
      scrapeMetrics(this.#opsUrl).then(
        (m) => {
          sample.pool = poolSample(m);
        },
        () => {},
      );
    }
  }

  /** No more database samples (the database is about to go away). */
  pauseDatabase(): void {
    this.#databasePaused = true;
  }

  async stop(): Promise<void> {
    await this.#client?.end().catch(() => {});
  }
}

function poolSample(m: Map<string, number>): PoolSample | null {
  const limit = m.get("spillway_db_pool_limit");
  if (limit === undefined) return null;
  return {
    limit,
    hardCap: m.get(`db_client_connection_max{${poolLabel}}`) ?? 0,
    inUse: m.get(`db_client_connection_count{${poolLabel},db_client_connection_state="used"}`) ?? 0,
    waiting: m.get(`db_client_connection_pending_requests{${poolLabel}}`) ?? 0,
    hashWaiting: m.get("spillway_password_hash_waiting") ?? 0,
  };
}
