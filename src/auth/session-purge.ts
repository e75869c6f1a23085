import { EventEmitter } from "node:events";
import { type Database, statements } from "../db/index.js";
import { jitter } from "../util/index.js";

export interface SessionPurgeConfig {
  /** Time between sweeps, ms; 0: no sweeps on a timer (`sweep()` still works). */
  intervalMs: number;
  /** How long a session is kept after it ended (expired or revoked), seconds. */
  retentionSeconds: number;
  /** Rows deleted per statement: no sweep holds many locks or one long transaction. Default 1000. */
  batchSize?: number;
  /** Delay before the first sweep, ms, so a service restarted often still sweeps. Default 60 s or the interval, whichever is shorter. */
  firstSweepMs?: number;
}

export interface SessionPurgeEvents {
  /** A sweep deleted rows: how many. */
  purged: [count: number];
  /** A sweep failed; the next one tries again. */
  "sweep-error": [error: unknown];
}

/**
 * Deletes sessions that ended longer than the retention ago, so the sessions
 * table holds the sessions that can still be used and a recent tail, not
 * every login ever made. What happened to each session stays in
 * `auth_events`. Every instance sweeps on its own jittered timer; the
 * statement skips rows another sweep holds.
 */
export class SessionPurge extends EventEmitter<SessionPurgeEvents> {
  readonly #db: Database;
  readonly #config: Required<SessionPurgeConfig>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #stopped = false;
  #purged = 0;
  #failures = 0;

  constructor(db: Database, config: SessionPurgeConfig) {
    super();
    this.#db = db;
    this.#config = {
      batchSize: 1000,
      firstSweepMs: Math.min(config.intervalMs, 60_000),
      ...config,
    };
  }

  /** Sessions deleted by this instance so far. */
  get purged(): number {
    return this.#purged;
  }

  /** Sweeps that failed so far. */
  get failures(): number {
    return this.#failures;
  }

  /** Starts sweeping on the timer; does nothing when the interval is 0. */
  start(): void {
    if (this.#config.intervalMs > 0 && !this.#stopped) this.#schedule(this.#config.firstSweepMs);
  }

  /**
   * Deletes every session that ended more than the retention ago, a batch at
   * a time; resolves with how many. A sweep already running is joined, not
   * doubled.
   */
  sweep(): Promise<number> {
    this.#running ??= this.#sweepAll().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Stops the timer and waits for a running sweep to finish its batch. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
  }

  async #sweepAll(): Promise<number> {
    const { retentionSeconds, batchSize } = this.#config;
    let total = 0;
    try {
      while (!this.#stopped) {
        const row = await this.#db.first(statements.purgeEndedSessions, [
          retentionSeconds,
          batchSize,
        ]);
        const purged = row?.purged ?? 0;
        total += purged;
        this.#purged += purged;
        if (purged < batchSize) break;
      }
    } catch (err) {
      this.#failures++;
      throw err;
    }
    if (total > 0) this.emit("purged", total);
    return total;
  }

  /** The next sweep in about `delayMs` (±20%, so instances drift apart). */
  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.sweep()
        .catch((err: unknown) => this.emit("sweep-error", err))
        .finally(() => {
          if (!this.#stopped) this.#schedule(this.#config.intervalMs);
        });
    }, jitter(delayMs));
    this.#timer.unref();
  }
}
