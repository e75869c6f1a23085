import { EventEmitter } from "node:events";
import type { AdaptivePool } from "./adaptive-pool.js";

export interface ConnectionBudgetConfig {
  /** This instance's id (a UUID); its connections carry `applicationPrefix`. */
  instanceId: string;
  /** application_name prefix of this instance's connections, e.g. `spillway/1a2b3c4d`. */
  applicationPrefix: string;
  /** How often to heartbeat and recompute, ms. Default 2000. */
  heartbeatMs?: number;
  /** Connections left free for everyone else (psql, migrations, monitoring). Default 2. */
  headroom?: number;
  /** Connections this instance holds outside the pool (e.g. a LISTEN connection). Default 0. */
  outsidePool?: number;
}

export interface BudgetSnapshot {
  maxConnections: number;
  reserved: number;
  others: number;
  instances: number;
  /** Connections the other instances hold or may grow to (the larger of the two). */
  othersHeld: number;
  budget: number;
  fairShare: number;
  cap: number;
}

// The budget's own statements (the pool is usable alone, outside Spillway's catalog).
export const budgetStatements = {
  createTable: `CREATE TABLE IF NOT EXISTS spillway_pool_instances (
    id uuid PRIMARY KEY,
    application_prefix text NOT NULL,
    cap integer NOT NULL DEFAULT 0,
    heartbeat_at timestamptz NOT NULL DEFAULT now())`,
  /** Serialises budget decisions across instances (transaction-scoped). */
  lock: "SELECT pg_advisory_xact_lock(7291845114)",
  heartbeat: `
WITH hb AS (
  INSERT INTO spillway_pool_instances (id, application_prefix, heartbeat_at) VALUES ($1, $2, now())
  ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()
), expired AS (
  DELETE FROM spillway_pool_instances WHERE heartbeat_at < now() - make_interval(secs => $3::float8 * 10)
), live AS (
  SELECT i.id, i.cap,
         (SELECT count(*) FROM pg_stat_activity a WHERE a.application_name LIKE i.application_prefix || '%') AS held
  FROM spillway_pool_instances i
  WHERE i.heartbeat_at > now() - make_interval(secs => $3::float8) AND i.id <> $1
)
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int
         + coalesce(nullif(current_setting('reserved_connections', true), ''), '0')::int AS reserved,
       (SELECT count(*) FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND coalesce(application_name, '') NOT LIKE 'spillway/%')::int AS others,
       (SELECT count(*) FROM live)::int + 1 AS instances,
       (SELECT coalesce(sum(greatest(cap, held)), 0) FROM live)::int AS others_held`,
  setCap: "UPDATE spillway_pool_instances SET cap = $2 WHERE id = $1",
  leave: "DELETE FROM spillway_pool_instances WHERE id = $1",
} as const;

/**
 * Keeps this instance's pool inside its fair share of the database:
 * (max_connections - reserved slots - other applications' connections -
 * headroom) / live instances, minus what this instance holds outside the
 * pool. Instances find each other through heartbeat rows; stale rows expire.
 * A joining instance takes no more than what the others leave free, so the
 * total stays inside the budget while they shrink to their new shares.
 */
export class ConnectionBudget extends EventEmitter<{
  update: [BudgetSnapshot];
  "refresh-error": [unknown];
}> {
  readonly #pool: AdaptivePool;
  readonly #config: Required<ConnectionBudgetConfig>;
  #timer: NodeJS.Timeout | undefined;
  #last: BudgetSnapshot | undefined;

  constructor(pool: AdaptivePool, config: ConnectionBudgetConfig) {
    super();
    this.#pool = pool;
    this.#config = { heartbeatMs: 2000, headroom: 2, outsidePool: 0, ...config };
  }

  get last(): BudgetSnapshot | undefined {
    return this.#last;
  }

  async start(): Promise<BudgetSnapshot> {
    // Under the budget lock: concurrent CREATE TABLE IF NOT EXISTS races on pg_type.
    const client = await this.#pool.connect({ lane: "critical" });
    try {
      await client.query("BEGIN");
      await client.query(budgetStatements.lock);
      await client.query(budgetStatements.createTable);
      await client.query("COMMIT");
      client.release();
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      client.release(true);
      throw err;
    }
    const snapshot = await this.refresh();
    this.#timer = setInterval(() => {
      // A failed refresh keeps the last cap; the next heartbeat tries again.
      this.refresh().catch((err: unknown) => this.emit("refresh-error", err));
    }, this.#config.heartbeatMs);
    this.#timer.unref();
    return snapshot;
  }

  /**
   * Heartbeats, recomputes the share and applies it to the pool, under a
   * lock so that two instances never grow into the same free connections.
   * Growth is published before it is used; shrinking is applied first.
   */
  async refresh(): Promise<BudgetSnapshot> {
    const { instanceId, applicationPrefix, heartbeatMs, headroom, outsidePool } = this.#config;
    const client = await this.#pool.connect({ lane: "critical" });
    let failed = false;
    try {
      await client.query("BEGIN");
      await client.query(budgetStatements.lock);
      const { rows } = await client.query<{
        max_connections: number;
        reserved: number;
        others: number;
        instances: number;
        others_held: number;
      }>(budgetStatements.heartbeat, [instanceId, applicationPrefix, (3 * heartbeatMs) / 1000]);
      const row = rows[0];
      if (!row) throw new Error("budget query returned no row");
      const budget = row.max_connections - row.reserved - row.others - headroom;
      const fairShare = Math.floor(budget / row.instances) - outsidePool;
      const free = budget - row.others_held - outsidePool;
      const cap = Math.max(1, Math.min(fairShare, free));
      const shrinking = cap < this.#pool.hardCap;
      if (shrinking) this.#pool.setHardCap(cap);
      await client.query(budgetStatements.setCap, [instanceId, cap + outsidePool]);
      await client.query("COMMIT");
      if (!shrinking) this.#pool.setHardCap(cap);
      const snapshot: BudgetSnapshot = {
        maxConnections: row.max_connections,
        reserved: row.reserved,
        others: row.others,
        instances: row.instances,
        othersHeld: row.others_held,
        budget,
        fairShare,
        cap,
      };
      this.#last = snapshot;
      this.emit("update", snapshot);
      return snapshot;
    } catch (err) {
      failed = true;
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release(failed);
    }
  }

  /** Stops heartbeating and leaves, so the other instances grow into the share at once. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#pool
      .query(budgetStatements.leave, [this.#config.instanceId], { lane: "critical" })
      .catch(() => {});
  }
}
