import { EventEmitter } from "node:events";
import type { Database, Statement } from "../db/index.js";
import { jitter } from "../util/index.js";

/**
 * A catalog statement that deletes up to $2 rows older than the retention
 * ($1 seconds), oldest first, and returns how many it deleted.
 */
export type PurgeStatement = Statement<
  [retentionSeconds: number, batch: number],
  { purged: number }
>;

export interface RetentionPurgeConfig {
  /** What a sweep runs, a batch at a time. */
  statement: PurgeStatement;
  /** Time between sweeps, ms; 0: no sweeps on a timer (`sweep()` still works). */
  intervalMs: number;
  /** How long a row is kept (after its session ended; after the event), seconds. */
  retentionSeconds: number;
  /** Rows deleted per statement: no sweep holds many locks or one long transaction. Default 1000. */
  batchSize?: number;
  /** Delay before the first sweep, ms, so a service restarted often still sweeps. Default 60 s or the interval, whichever is shorter. */
  firstSweepMs?: number;
}

export interface RetentionPurgeEvents {
  /** A sweep deleted rows: how many. */
  purged: [count: number];
  /** A sweep failed; the next one tries again. */
  "sweep-error": [error: unknown];
}

/**
 * Deletes rows older than a retention on a timer, so a table that gains a
 * row per login holds a recent tail, not every login ever made: ended
 * sessions (their record stays in `auth_events`), and events past the
 * event retention. Every instance sweeps on its own jittered timer; the
 * statements skip rows another sweep holds.
 */
export class RetentionPurge extends EventEmitter<RetentionPurgeEvents> {
  readonly #db: Database;
  readonly #config: Required<RetentionPurgeConfig>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #stopped = false;
  #purged = 0;
  #failures = 0;

  constructor(db: Database, config: RetentionPurgeConfig) {
    super();
    this.#db = db;
    this.#config = {
      batchSize: 1000,
      firstSweepMs: Math.min(config.intervalMs, 60_000),
      ...config,
    };
  }

  /** Rows deleted by this instance so far. */
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
   * Deletes every row older than the retention, a batch at a time; resolves
   * with how many. A sweep already running is joined, not
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
    const { statement, retentionSeconds, batchSize } = this.#config;
    let total = 0;
    try {
      while (!this.#stopped) {
        const row = await this.#db.first(statement, [retentionSeconds, batchSize]);
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
