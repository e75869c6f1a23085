import { EventEmitter } from "node:events";
import { isSpillwayError, SpillwayError } from "../errors/index.js";
import { type Clock, jitter } from "../util/index.js";
import { type LimitAlgorithm, VegasLimit } from "./limit/index.js";
import { pgConnector } from "./pg-connector.js";
import type {
  AcquireOptions,
  Connector,
  DatabasePool,
  Lane,
  PhysicalConnection,
  QueryConfig,
  QueryResultLike,
} from "./types.js";
import { type Waiter, WaitQueue } from "./wait-queue.js";

export interface AdaptivePoolConfig {
  /** PostgreSQL URL; or give `connector`. */
  connectionString?: string;
  /** Opens physical connections (tests inject a fake database here). */
  connector?: Connector;
  applicationName?: string;
  /** Server-side statement_timeout, ms. Default 5000. */
  statementTimeoutMs?: number;
  /** Server-side idle_in_transaction_session_timeout, ms. Default 10 000. */
  idleInTransactionTimeoutMs?: number;
  /** Handshake timeout, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Connections kept open when idle (the floor). Default 1. */
  minConnections?: number;
  /** Hard ceiling on connections (pg.Pool's `max`). Default 10. */
  maxConnections?: number;
  /** Alias of maxConnections, as in pg.Pool. */
  max?: number;
  /** Limit on in-flight operations; default Vegas between 2 and the hard cap. */
  limit?: LimitAlgorithm;
  /** Default wait for a connection when the caller gives no deadline, ms. Default 2000. */
  acquireTimeoutMs?: number;
  /** Waiters at most; beyond, the lowest lane's oldest is shed. Default 1000. */
  queueMax?: number;
  /** CoDel target queueing delay, ms. Default 10. */
  queueTargetMs?: number;
  /** CoDel interval, ms. Default 100. */
  queueIntervalMs?: number;
  /** While overloaded, a waiter older than this is shed, ms. Default 5 x target. */
  overloadWaitMs?: number;
  /** Permits above the limit only the critical lane may use. Default 1. */
  criticalReserve?: number;
  /** Idle connections above the floor close after this, ms. Default 30 000. */
  idleTimeoutMs?: number;
  /** Connections are replaced after this (±20% jitter), ms. Default 30 minutes. */
  maxLifetimeMs?: number;
  /** Client-side deadline for one query before a cancel is sent, ms. Default statement timeout + 2000. */
  queryTimeoutMs?: number;
  /** A checkout held longer emits `leak` with the borrower's stack, ms; 0 disables. Default 10 000. */
  leakThresholdMs?: number;
  /** Monotonic milliseconds. Default performance.now. */
  clock?: Clock;
}

export interface AdaptivePoolEvents {
  connect: [];
  "connect-error": [error: unknown];
  remove: [reason: string];
  acquire: [info: { lane: Lane; waitedMs: number }];
  release: [info: { heldMs: number }];
  shed: [
    info: { lane: Lane; reason: "queue-full" | "overload" | "circuit-open"; waitedMs: number },
  ];
  timeout: [info: { lane: Lane; waitedMs: number }];
  "limit-changed": [info: { limit: number; previous: number }];
  "hard-cap-changed": [info: { hardCap: number; previous: number }];
  circuit: [info: { open: boolean }];
  leak: [info: { heldMs: number; stack: string }];
  error: [error: Error];
}

export interface PoolStats {
  acquired: number;
  shed: number;
  timeouts: number;
  connectErrors: number;
}

interface Conn {
  physical: PhysicalConnection;
  createdAtMs: number;
  expiresAtMs: number;
  lastUsedAtMs: number;
  broken: boolean;
  removed: boolean;
}

interface Pending {
  resolve: (conn: Conn) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** A client checked out with `connect()`; pg.PoolClient-shaped. */
export interface AdaptivePoolClient {
  query<R = Record<string, unknown>>(
    query: string | QueryConfig,
    values?: readonly unknown[],
  ): Promise<QueryResultLike<R>>;
  release(destroy?: boolean | Error): void;
}

const monotonic: Clock = { now: () => performance.now() };

/**
 * A PostgreSQL pool that sizes itself and sheds fast instead of exhausting.
 *
 * In-flight operations are capped by an adaptive limit (Vegas by default)
 * below a hard cap; connections are opened in the background ahead of
 * demand, never on a request's path; waiting is bounded, deadline-aware and
 * in priority lanes, with CoDel overload detection that serves newest first
 * and sheds what cannot make its deadline; a circuit opens while the
 * database is down so requests fail fast. A drop-in for pg.Pool's promise
 * API (`query`, `connect` + `release`, `end`, events).
 */
export class AdaptivePool extends EventEmitter<AdaptivePoolEvents> implements DatabasePool {
  readonly #connector: Connector;
  readonly #clock: Clock;
  readonly #algorithm: LimitAlgorithm;
  readonly #queue: WaitQueue<Pending>;
  readonly #idle: Conn[] = [];
  readonly #busy = new Set<Conn>();
  readonly #cfg: Required<
    Pick<
      AdaptivePoolConfig,
      | "minConnections"
      | "maxConnections"
      | "acquireTimeoutMs"
      | "queueMax"
      | "queueTargetMs"
      | "overloadWaitMs"
      | "criticalReserve"
      | "idleTimeoutMs"
      | "maxLifetimeMs"
      | "queryTimeoutMs"
      | "leakThresholdMs"
    >
  >;
  #hardCap: number;
  #limit: number;
  #opening = 0;
  #ended = false;
  #circuitOpen = false;
  #backoffMs = 50;
  #nextOpenAtMs = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #releasesThisWindow = 0;
  #windowStartMs: number;
  #drainPerMs = 0;
  #stats: PoolStats = { acquired: 0, shed: 0, timeouts: 0, connectErrors: 0 };
  /** pg.Pool-compatible options (query builders such as Kysely read them). */
  readonly options: { connectionString: string | undefined; max: number; application_name: string };

  constructor(config: AdaptivePoolConfig = {}) {
    super();
    const statementTimeoutMs = config.statementTimeoutMs ?? 5000;
    const max = config.maxConnections ?? config.max ?? 10;
    const target = config.queueTargetMs ?? 10;
    this.#cfg = {
      minConnections: Math.min(config.minConnections ?? 1, max),
      maxConnections: max,
      acquireTimeoutMs: config.acquireTimeoutMs ?? 2000,
      queueMax: config.queueMax ?? 1000,
      queueTargetMs: target,
      overloadWaitMs: config.overloadWaitMs ?? 5 * target,
      criticalReserve: config.criticalReserve ?? 1,
      idleTimeoutMs: config.idleTimeoutMs ?? 30_000,
      maxLifetimeMs: config.maxLifetimeMs ?? 30 * 60_000,
      queryTimeoutMs: config.queryTimeoutMs ?? statementTimeoutMs + 2000,
      leakThresholdMs: config.leakThresholdMs ?? 10_000,
    };
    this.#clock = config.clock ?? monotonic;
    this.#windowStartMs = this.#clock.now();
    this.#connector =
      config.connector ??
      pgConnector({
        connectionString: config.connectionString ?? "",
        statementTimeoutMs,
        idleInTransactionTimeoutMs: config.idleInTransactionTimeoutMs ?? 10_000,
        applicationName: config.applicationName ?? "spillway",
        connectTimeoutMs: config.connectTimeoutMs ?? 5000,
      });
    this.#hardCap = max;
    this.options = {
      connectionString: config.connectionString,
      max,
      application_name: config.applicationName ?? "spillway",
    };
    this.#algorithm =
      config.limit ??
      new VegasLimit({ minLimit: Math.min(2, max), maxLimit: max, initialLimit: Math.min(4, max) });
    this.#limit = this.#algorithm.limit;
    this.#queue = new WaitQueue({ targetMs: target, intervalMs: config.queueIntervalMs ?? 100 });
    this.#sweeper = setInterval(() => this.#sweep(), Math.max(5, Math.min(target, 50)));
    this.#sweeper.unref();
    this.#ensureConnections();
  }

  /** Open connections. */
  get totalCount(): number {
    return this.#idle.length + this.#busy.size;
  }
  get idleCount(): number {
    return this.#idle.length;
  }
  get waitingCount(): number {
    return this.#queue.size;
  }
  /** Connections checked out. */
  get inUse(): number {
    return this.#busy.size;
  }
  /** Handshakes under way. */
  get openingCount(): number {
    return this.#opening;
  }
  /** Current adaptive limit on in-flight operations. */
  get limit(): number {
    return Math.max(1, Math.floor(Math.min(this.#limit, this.#hardCap)));
  }
  /** Connections this pool may hold at most now. */
  get hardCap(): number {
    return this.#hardCap;
  }
  get circuitOpen(): boolean {
    return this.#circuitOpen;
  }
  /** Counters since start: acquired, shed, timeouts, connectErrors. */
  get stats(): Readonly<PoolStats> {
    return this.#stats;
  }

  /** Lowers or raises the ceiling (the connection budget); closes idle connections above it now. */
  setHardCap(cap: number): void {
    const next = Math.max(1, Math.min(Math.floor(cap), this.#cfg.maxConnections));
    if (next === this.#hardCap) return;
    const previous = this.#hardCap;
    this.#hardCap = next;
    while (this.totalCount > next && this.#idle.length > 0)
      void this.#close(this.#idle.shift() as Conn, "over-cap");
    this.emit("hard-cap-changed", { hardCap: next, previous });
    this.#ensureConnections();
    this.#dispatch();
  }

  query<R = Record<string, unknown>>(
    query: string | QueryConfig,
    values?: readonly unknown[] | AcquireOptions,
    options?: AcquireOptions,
  ): Promise<QueryResultLike<R>> {
    const config: QueryConfig =
      typeof query === "string"
        ? { text: query, ...(Array.isArray(values) ? { values } : {}) }
        : query;
    const acquireOptions = Array.isArray(values)
      ? options
      : ((values as AcquireOptions | undefined) ?? options);
    return this.#acquire(acquireOptions).then((conn) => this.#run<R>(conn, config, true));
  }

  async connect(options?: AcquireOptions): Promise<AdaptivePoolClient> {
    // Captured before the first await, while the borrower is still on the stack.
    const stack = this.#cfg.leakThresholdMs > 0 ? (new Error("checked out here").stack ?? "") : "";
    const conn = await this.#acquire(options);
    const checkedOutMs = this.#clock.now();
    const inflight = this.#busy.size;
    let released = false;
    let dropped = false;
    let leak: NodeJS.Timeout | undefined;
    if (this.#cfg.leakThresholdMs > 0) {
      leak = setTimeout(
        () => this.emit("leak", { heldMs: this.#clock.now() - checkedOutMs, stack }),
        this.#cfg.leakThresholdMs,
      );
      leak.unref();
    }
    return {
      query: async <R>(q: string | QueryConfig, values?: readonly unknown[]) => {
        if (released) throw new Error("query on a released client");
        const config: QueryConfig =
          typeof q === "string" ? { text: q, ...(values ? { values } : {}) } : q;
        try {
          return await this.#run<R>(conn, config, false);
        } catch (err) {
          if (isSpillwayError(err, "DB_QUERY_TIMEOUT")) dropped = true;
          throw err;
        }
      },
      release: (destroy) => {
        if (released)
          throw new Error("Release called on client which has already been released to the pool.");
        released = true;
        clearTimeout(leak);
        this.#sample(this.#clock.now() - checkedOutMs, inflight, dropped);
        this.#release(conn, Boolean(destroy));
      },
    };
  }

  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#sweeper);
    clearTimeout(this.#retryTimer);
    for (const w of [...this.#queue.all()])
      this.#fail(w, new SpillwayError("SERVICE_SHUTTING_DOWN"));
    await Promise.all(this.#idle.splice(0).map((conn) => this.#close(conn, "end")));
    while (this.#busy.size > 0 || this.#opening > 0) await new Promise((r) => setTimeout(r, 10));
  }

  // --- acquiring -----------------------------------------------------------

  #permits(lane: Lane): number {
    const reserve = this.#cfg.criticalReserve;
    const base = Math.min(
      Math.floor(this.#limit),
      this.#hardCap - (lane === "critical" ? 0 : reserve),
    );
    return Math.max(1, lane === "critical" ? Math.min(base + reserve, this.#hardCap) : base);
  }

  #acquire(options: AcquireOptions | undefined): Promise<Conn> {
    const lane = options?.lane ?? "interactive";
    if (this.#ended)
      return Promise.reject(new Error("Cannot use a pool after calling end on the pool"));
    if (this.#circuitOpen) {
      this.#stats.shed++;
      this.emit("shed", { lane, reason: "circuit-open", waitedMs: 0 });
      return Promise.reject(new SpillwayError("DB_UNAVAILABLE", { retryAfterSeconds: 1 }));
    }
    if (options?.signal?.aborted) return Promise.reject(this.#timeoutError());
    if (this.#queue.size === 0 && this.#idle.length > 0 && this.#busy.size < this.#permits(lane)) {
      const conn = this.#checkout(this.#idle.pop() as Conn);
      this.emit("acquire", { lane, waitedMs: 0 });
      return Promise.resolve(conn);
    }
    return this.#wait(lane, options?.signal);
  }

  #wait(lane: Lane, signal: AbortSignal | undefined): Promise<Conn> {
    const now = this.#clock.now();
    const deadlineMs = now + this.#cfg.acquireTimeoutMs;
    if (this.#queue.size >= this.#cfg.queueMax) {
      const victim = this.#queue.sheddable(lane);
      if (!victim || victim.lane === lane) return Promise.reject(this.#shedNow(lane, "queue-full"));
      this.#shed(victim, "queue-full");
    }
    if (lane !== "critical" && this.#queue.overloaded(now)) {
      const expectedWaitMs =
        this.#drainPerMs > 0 ? (this.#queue.size + 1) / this.#drainPerMs : Number.POSITIVE_INFINITY;
      if (expectedWaitMs > Math.min(deadlineMs - now, this.#cfg.overloadWaitMs)) {
        return Promise.reject(this.#shedNow(lane, "overload"));
      }
    }
    return new Promise<Conn>((resolve, reject) => {
      const pending: Pending = { resolve, reject, timer: undefined, signal, onAbort: undefined };
      const waiter: Waiter<Pending> = {
        lane,
        enqueuedAtMs: now,
        deadlineMs,
        value: pending,
        prev: undefined,
        next: undefined,
        queued: false,
      };
      pending.timer = setTimeout(() => this.#expire(waiter), this.#cfg.acquireTimeoutMs);
      pending.timer.unref();
      if (signal) {
        pending.onAbort = () => this.#expire(waiter);
        signal.addEventListener("abort", pending.onAbort, { once: true });
      }
      this.#queue.push(waiter);
      this.#dispatch();
      this.#ensureConnections();
    });
  }

  #checkout(conn: Conn): Conn {
    this.#busy.add(conn);
    this.#stats.acquired++;
    return conn;
  }

  #dispatch(): void {
    while (this.#queue.size > 0 && this.#idle.length > 0) {
      const busy = this.#busy.size;
      const waiter = this.#queue.take(this.#clock.now(), (lane) => busy < this.#permits(lane));
      if (!waiter) return;
      const conn = this.#checkout(this.#idle.pop() as Conn);
      this.#settle(waiter);
      this.emit("acquire", {
        lane: waiter.lane,
        waitedMs: this.#clock.now() - waiter.enqueuedAtMs,
      });
      waiter.value.resolve(conn);
    }
  }

  #settle(waiter: Waiter<Pending>): void {
    this.#queue.remove(waiter);
    const p = waiter.value;
    clearTimeout(p.timer);
    if (p.signal && p.onAbort) p.signal.removeEventListener("abort", p.onAbort);
  }

  #fail(waiter: Waiter<Pending>, err: unknown): void {
    this.#settle(waiter);
    waiter.value.reject(err);
  }

  #expire(waiter: Waiter<Pending>): void {
    if (!waiter.queued) return;
    this.#stats.timeouts++;
    this.emit("timeout", { lane: waiter.lane, waitedMs: this.#clock.now() - waiter.enqueuedAtMs });
    this.#fail(waiter, this.#timeoutError());
  }

  #shed(waiter: Waiter<Pending>, reason: "queue-full" | "overload"): void {
    this.#stats.shed++;
    this.emit("shed", {
      lane: waiter.lane,
      reason,
      waitedMs: this.#clock.now() - waiter.enqueuedAtMs,
    });
    this.#fail(waiter, this.#saturated());
  }

  #shedNow(lane: Lane, reason: "queue-full" | "overload"): SpillwayError {
    this.#stats.shed++;
    this.emit("shed", { lane, reason, waitedMs: 0 });
    return this.#saturated();
  }

  #saturated(): SpillwayError {
    return new SpillwayError("POOL_SATURATED", { retryAfterSeconds: this.#retryAfterSeconds() });
  }

  #timeoutError(): SpillwayError {
    return new SpillwayError("POOL_ACQUIRE_TIMEOUT", {
      retryAfterSeconds: this.#retryAfterSeconds(),
    });
  }

  /** Seconds until the queue would have drained at the current rate, jittered so clients spread out. */
  #retryAfterSeconds(): number {
    const drainS = this.#drainPerMs > 0 ? this.#queue.size / this.#drainPerMs / 1000 : 1;
    return Math.max(1, Math.round(jitter(Math.max(1, drainS) + 0.5, 0.5)));
  }

  // --- running and releasing ----------------------------------------------

  async #run<R>(
    conn: Conn,
    config: QueryConfig,
    releaseAfter: boolean,
  ): Promise<QueryResultLike<R>> {
    const started = this.#clock.now();
    const inflight = this.#busy.size;
    let dropped = false;
    // The server's statement_timeout normally fires first; this covers a
    // stalled network: cancel, and if even that goes unanswered, drop the connection.
    const timer = setTimeout(() => {
      dropped = true;
      conn.physical.cancel();
      const kill = setTimeout(() => {
        conn.broken = true;
        void conn.physical.end();
      }, 1000);
      kill.unref();
    }, this.#cfg.queryTimeoutMs);
    timer.unref();
    try {
      return await conn.physical.query<R>(config);
    } catch (err) {
      if (isSpillwayError(err, "DB_QUERY_TIMEOUT")) dropped = true;
      if (isSpillwayError(err, "DB_UNAVAILABLE")) conn.broken = true;
      if (dropped && !isSpillwayError(err))
        throw new SpillwayError("DB_QUERY_TIMEOUT", { cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
      if (releaseAfter) {
        this.#sample(this.#clock.now() - started, inflight, dropped);
        this.#release(conn, false);
      }
    }
  }

  #sample(rttMs: number, inflight: number, dropped: boolean): void {
    const previous = this.limit;
    this.#limit = this.#algorithm.onSample({ rttMs, inflight, dropped, nowMs: this.#clock.now() });
    const limit = this.limit;
    if (limit !== previous) {
      this.emit("limit-changed", { limit, previous });
      if (limit > previous) {
        this.#ensureConnections();
        this.#dispatch();
      }
    }
  }

  #release(conn: Conn, destroy: boolean): void {
    if (!this.#busy.delete(conn)) return;
    const now = this.#clock.now();
    this.#releasesThisWindow++;
    this.emit("release", { heldMs: now - conn.lastUsedAtMs });
    conn.lastUsedAtMs = now;
    if (
      destroy ||
      conn.broken ||
      now >= conn.expiresAtMs ||
      this.totalCount >= this.#hardCap ||
      this.#ended
    ) {
      void this.#close(
        conn,
        destroy || conn.broken ? "broken" : now >= conn.expiresAtMs ? "lifetime" : "over-cap",
      );
      this.#ensureConnections();
    } else {
      this.#idle.push(conn);
    }
    this.#dispatch();
  }

  // --- connections ---------------------------------------------------------

  #desiredConnections(): number {
    const demand = Math.min(this.#busy.size + this.#queue.size, this.#permits("critical"));
    // One spare ahead of demand, so a burst's first waiter finds a connection ready.
    return Math.min(this.#hardCap, Math.max(this.#cfg.minConnections, demand + 1));
  }

  #ensureConnections(): void {
    if (this.#ended) return;
    if (this.#circuitOpen) return; // the probe timer reopens
    const now = this.#clock.now();
    if (now < this.#nextOpenAtMs) {
      this.#scheduleRetry(this.#nextOpenAtMs - now);
      return;
    }
    while (this.totalCount + this.#opening < this.#desiredConnections() && this.#opening < 2)
      this.#open();
  }

  #open(): void {
    this.#opening++;
    this.#connector().then(
      (physical) => {
        this.#opening--;
        if (this.#ended || this.totalCount >= this.#hardCap) {
          void physical.end();
          return;
        }
        const now = this.#clock.now();
        const conn: Conn = {
          physical,
          createdAtMs: now,
          expiresAtMs: now + jitter(this.#cfg.maxLifetimeMs),
          lastUsedAtMs: now,
          broken: false,
          removed: false,
        };
        physical.onBroken((err) => this.#broken(conn, err));
        this.#backoffMs = 50;
        if (this.#circuitOpen) {
          this.#circuitOpen = false;
          this.emit("circuit", { open: false });
        }
        this.#idle.push(conn);
        this.emit("connect");
        this.#dispatch();
        this.#ensureConnections();
      },
      (err: unknown) => {
        this.#opening--;
        this.#stats.connectErrors++;
        this.emit("connect-error", err);
        if (this.#ended) return;
        this.#nextOpenAtMs = this.#clock.now() + jitter(this.#backoffMs);
        const delayMs = this.#nextOpenAtMs - this.#clock.now();
        this.#backoffMs = Math.min(this.#backoffMs * 2, 1000);
        if (isSpillwayError(err, "DB_CONNECTION_LIMIT")) {
          // The server is full: hold what we have instead of failing the service.
          this.setHardCap(Math.max(1, this.totalCount));
          if (this.totalCount === 0) this.#failAll(err);
        } else {
          this.#openCircuit(err);
        }
        this.#scheduleRetry(delayMs);
      },
    );
  }

  #openCircuit(err: unknown): void {
    if (!this.#circuitOpen) {
      this.#circuitOpen = true;
      this.emit("circuit", { open: true });
    }
    // Idle connections to a database that refuses new ones are likely dead too.
    for (const conn of this.#idle.splice(0)) void this.#close(conn, "circuit-open");
    this.#failAll(isSpillwayError(err) ? err : new SpillwayError("DB_UNAVAILABLE", { cause: err }));
  }

  #failAll(err: unknown): void {
    for (const w of [...this.#queue.all()]) this.#fail(w, err);
  }

  /** Half-open: one probe connection after the backoff; success closes the circuit. */
  #scheduleRetry(delayMs: number): void {
    if (this.#retryTimer || this.#ended) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#nextOpenAtMs = 0;
      if (this.#circuitOpen) {
        if (this.#opening === 0) this.#open();
      } else {
        this.#ensureConnections();
      }
    }, delayMs);
    this.#retryTimer.unref();
  }

  #broken(conn: Conn, err: Error): void {
    if (conn.removed) return;
    conn.broken = true;
    const idleIndex = this.#idle.indexOf(conn);
    if (idleIndex >= 0) {
      this.#idle.splice(idleIndex, 1);
      void this.#close(conn, "broken");
      if (this.listenerCount("error") > 0) this.emit("error", err);
      this.#ensureConnections();
    }
  }

  #close(conn: Conn, reason: string): Promise<void> {
    if (conn.removed) return Promise.resolve();
    conn.removed = true;
    this.emit("remove", reason);
    return conn.physical.end();
  }

  /** Periodic housekeeping: overload shedding, drain rate, idle and expired connections. */
  #sweep(): void {
    const now = this.#clock.now();
    const windowMs = now - this.#windowStartMs;
    if (windowMs >= 100) {
      const rate = this.#releasesThisWindow / windowMs;
      this.#drainPerMs = this.#drainPerMs === 0 ? rate : 0.7 * this.#drainPerMs + 0.3 * rate;
      this.#releasesThisWindow = 0;
      this.#windowStartMs = now;
    }
    if (this.#queue.size > 0 && this.#queue.overloaded(now)) {
      for (const w of [...this.#queue.all()]) {
        // Health checks, probes and migrations are never shed for overload.
        if (w.lane !== "critical" && now - w.enqueuedAtMs > this.#cfg.overloadWaitMs)
          this.#shed(w, "overload");
      }
    }
    const desired = this.#desiredConnections();
    for (let i = 0; i < this.#idle.length && this.totalCount > desired; ) {
      const conn = this.#idle[i] as Conn;
      if (now - conn.lastUsedAtMs > this.#cfg.idleTimeoutMs || now >= conn.expiresAtMs) {
        this.#idle.splice(i, 1);
        void this.#close(conn, now >= conn.expiresAtMs ? "lifetime" : "idle");
      } else {
        i++;
      }
    }
    for (let i = 0; i < this.#idle.length; ) {
      const conn = this.#idle[i] as Conn;
      if (now >= conn.expiresAtMs) {
        this.#idle.splice(i, 1);
        void this.#close(conn, "lifetime");
        this.#ensureConnections();
      } else {
        i++;
      }
    }
  }
}
