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
  otherInstancesConnections: number;
  budget: number;
  fairShare: number;
  cap: number;
}

// The budget's own statements (the pool is usable alone, outside Spillway's catalog).
export const budgetStatements = {
  createTable: `CREATE TABLE IF NOT EXISTS spillway_pool_instances (
    id uuid PRIMARY KEY,
    application_prefix text NOT NULL,
    heartbeat_at timestamptz NOT NULL DEFAULT now())`,
  heartbeat: `
WITH hb AS (
  INSERT INTO spillway_pool_instances (id, application_prefix, heartbeat_at) VALUES ($1, $2, now())
  ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()
), expired AS (
  DELETE FROM spillway_pool_instances WHERE heartbeat_at < now() - make_interval(secs => $3 * 10)
)
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int
         + coalesce(nullif(current_setting('reserved_connections', true), ''), '0')::int AS reserved,
       (SELECT count(*) FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND coalesce(application_name, '') NOT LIKE 'spillway/%')::int AS others,
       (SELECT count(*) FROM spillway_pool_instances
         WHERE heartbeat_at > now() - make_interval(secs => $3) AND id <> $1)::int + 1 AS instances,
       (SELECT count(*) FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND application_name LIKE 'spillway/%'
           AND application_name NOT LIKE $2 || '%')::int AS other_instances_connections`,
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
export class ConnectionBudget extends EventEmitter<{ update: [BudgetSnapshot]; error: [unknown] }> {
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
    await this.#pool.query(budgetStatements.createTable, [], { lane: "critical" });
    const snapshot = await this.refresh();
    this.#timer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.emit("error", err));
    }, this.#config.heartbeatMs);
    this.#timer.unref();
    return snapshot;
  }

  /** Heartbeats, recomputes the share and applies it to the pool. */
  async refresh(): Promise<BudgetSnapshot> {
    const { instanceId, applicationPrefix, heartbeatMs, headroom, outsidePool } = this.#config;
    const { rows } = await this.#pool.query<{
      max_connections: number;
      reserved: number;
      others: number;
      instances: number;
      other_instances_connections: number;
    }>(budgetStatements.heartbeat, [instanceId, applicationPrefix, (3 * heartbeatMs) / 1000], {
      lane: "critical",
    });
    const row = rows[0];
    if (!row) throw new Error("budget query returned no row");
    const budget = row.max_connections - row.reserved - row.others - headroom;
    const fairShare = Math.floor(budget / row.instances) - outsidePool;
    const free = budget - row.other_instances_connections - outsidePool;
    const cap = Math.max(1, Math.min(fairShare, free));
    const snapshot: BudgetSnapshot = {
      maxConnections: row.max_connections,
      reserved: row.reserved,
      others: row.others,
      instances: row.instances,
      otherInstancesConnections: row.other_instances_connections,
      budget,
      fairShare,
      cap,
    };
    this.#last = snapshot;
    this.#pool.setHardCap(cap);
    this.emit("update", snapshot);
    return snapshot;
  }

  /** Stops heartbeating and leaves, so the other instances grow into the share at once. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#pool
      .query(budgetStatements.leave, [this.#config.instanceId], { lane: "critical" })
      .catch(() => {});
  }
}
