import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { IpThrottle, PasswordHasher, RetentionPurge, SessionCache } from "../auth/index.js";
import { AdaptivePool, type DatabasePool, PlainPool } from "../pool/index.js";
import type { HttpRequestMetrics } from "./http-metrics.js";

export interface MetricSources {
  pool: DatabasePool;
  hasher: PasswordHasher;
  sessionCache: SessionCache;
  sessionPurge: RetentionPurge;
  /** Absent when auth events are kept forever. */
  eventPurge: RetentionPurge | undefined;
  devicePurge: RetentionPurge;
  /** The per-IP buckets, by the label they are counted under; absent when throttling is off. */
  throttles: { credentials?: IpThrottle | undefined; session_lookups?: IpThrottle | undefined };
  /** The public listener's answers, observed as they are sent. */
  httpRequests: HttpRequestMetrics;
}

/** The pool's shape at one instant, whichever pool is in use. */
export interface PoolSnapshot {
  /** Operations allowed in flight now (the adaptive limit; a plain pool's size). */
  limit: number;
  /** Connections the pool may hold at most now. */
  hardCap: number;
  open: number;
  inUse: number;
  idle: number;
  waiting: number;
}

export function poolSnapshot(pool: DatabasePool): PoolSnapshot {
  const open = pool.totalCount;
  const idle = pool.idleCount;
  if (pool instanceof AdaptivePool) {
    return {
      limit: pool.limit,
      hardCap: pool.hardCap,
      open,
      inUse: pool.inUse,
      idle,
      waiting: pool.waitingCount,
    };
  }
  const max = pool instanceof PlainPool ? pool.max : open;
  return { limit: max, hardCap: max, open, inUse: open - idle, idle, waiting: pool.waitingCount };
}

/**
 * The service's Prometheus registry. Database pool metrics follow the
 * OpenTelemetry database-client conventions (`db.client.connection.*`);
 * what only Spillway has (the adaptive limit, sheds, the hashing queue) is
 * under `spillway_`. HTTP requests follow the HTTP server conventions
 * (`http.server.request.duration`), observed as each answer is sent; the
 * rest is read when scraped: nothing else here runs on a request's path
 * except the pool's shed and timeout counters.
 */
export function createMetrics(sources: MetricSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const { pool, hasher, sessionCache, sessionPurge, eventPurge, devicePurge, throttles } = sources;
  registry.registerMetric(sources.httpRequests.duration);
  const poolName = { db_client_connection_pool_name: "spillway" };

  new Gauge({
    name: "db_client_connection_count",
    help: "Open database connections by state (used, idle).",
    labelNames: ["db_client_connection_pool_name", "db_client_connection_state"],
    registers: [registry],
    collect() {
      const s = poolSnapshot(pool);
      this.set({ ...poolName, db_client_connection_state: "used" }, s.inUse);
      this.set({ ...poolName, db_client_connection_state: "idle" }, s.idle);
    },
  });
  new Gauge({
    name: "db_client_connection_max",
    help: "Connections the pool may hold now (the connection budget's hard cap).",
    labelNames: ["db_client_connection_pool_name"],
    registers: [registry],
    collect() {
      this.set(poolName, poolSnapshot(pool).hardCap);
    },
  });
  new Gauge({
    name: "db_client_connection_pending_requests",
    help: "Operations waiting for a connection.",
    labelNames: ["db_client_connection_pool_name"],
    registers: [registry],
    collect() {
      this.set(poolName, pool.waitingCount);
    },
  });
  new Gauge({
    name: "spillway_db_pool_limit",
    help: "Database operations allowed in flight now (adaptive limit; a plain pool's size).",
    registers: [registry],
    collect() {
      this.set(poolSnapshot(pool).limit);
    },
  });

  if (pool instanceof AdaptivePool) {
    const timeouts = new Counter({
      name: "db_client_connection_timeouts_total",
      help: "Waits for a connection that ran out of time.",
      labelNames: ["db_client_connection_pool_name"],
      registers: [registry],
    });
    const sheds = new Counter({
      name: "spillway_db_pool_shed_total",
      help: "Operations refused by the pool without waiting their deadline out, by lane and reason.",
      labelNames: ["lane", "reason"],
      registers: [registry],
    });
    pool.on("timeout", () => timeouts.inc(poolName));
    pool.on("shed", ({ lane, reason }) => sheds.inc({ lane, reason }));
    new Gauge({
      name: "spillway_db_pool_circuit_open",
      help: "1 while the database is unreachable and requests fail fast.",
      registers: [registry],
      collect() {
        this.set(pool.circuitOpen ? 1 : 0);
      },
    });
  }

  new Gauge({
    name: "spillway_password_hash_slots",
    help: "Password hashes allowed to run at once now.",
    registers: [registry],
    collect() {
      this.set(hasher.slots);
    },
  });
  new Gauge({
    name: "spillway_password_hash_running",
    help: "Password hashes and verifications running.",
    registers: [registry],
    collect() {
      this.set(hasher.running);
    },
  });
  new Gauge({
    name: "spillway_password_hash_waiting",
    help: "Password hashes and verifications waiting: queued, or handed to a busy hashing thread as its next.",
    registers: [registry],
    collect() {
      this.set(hasher.waiting);
    },
  });
  new Counter({
    name: "spillway_password_hash_completed_total",
    help: "Password hashes and verifications finished.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(hasher.completed);
    },
  });
  new Counter({
    name: "spillway_password_hash_refused_total",
    help: "Password hashes and verifications answered 503 HASH_SATURATED (refused, or given up after waiting the burst tolerance).",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(hasher.refused);
    },
  });
  new Counter({
    name: "spillway_password_hash_priority_admitted_total",
    help: "Password hashes admitted with priority, ahead of the crowd: logins from devices their accounts know, while hashing was saturated.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(hasher.priorityAdmitted);
    },
  });
  new Gauge({
    name: "spillway_password_hash_overloaded",
    help: "1 while hashing is overloaded: one slot fewer, and newcomers admitted only with fewer than two hashes per slot in front.",
    registers: [registry],
    collect() {
      this.set(hasher.overloaded ? 1 : 0);
    },
  });
  new Gauge({
    name: "spillway_session_cache_entries",
    help: "Sessions held in the in-process cache.",
    registers: [registry],
    collect() {
      this.set(sessionCache.size);
    },
  });
  for (const [purge, name, what] of [
    [sessionPurge, "session", "Ended sessions"],
    [eventPurge, "auth_event", "Auth events past their retention"],
    [devicePurge, "known_device", "Known devices that have not logged in for knownDeviceDays"],
  ] as const) {
    new Counter({
      name: `spillway_${name}s_purged_total`,
      help: `${what} deleted by the purge.`,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(purge?.purged ?? 0);
      },
    });
    new Counter({
      name: `spillway_${name}_purge_failures_total`,
      help: `${what}: purge sweeps that failed (the next sweep tries again).`,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(purge?.failures ?? 0);
      },
    });
  }
  new Counter({
    name: "spillway_rate_limited_total",
    help: "Requests refused 429 by a per-IP bucket: credential attempts, or session lookups that found nothing.",
    labelNames: ["limit"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [limit, throttle] of Object.entries(throttles))
        if (throttle) this.inc({ limit }, throttle.refused);
    },
  });
  return registry;
}
