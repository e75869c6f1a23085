import { randomBytes } from "node:crypto";
import { parseOptions } from "@node-rs/argon2";
import { SpillwayError } from "../errors/index.js";
import { type Clock, LoopDelay, systemClock } from "../util/index.js";
import { type HashJob, HashThreads } from "./hash-threads.js";

export interface PasswordHasherConfig {
  /** Hashes at once; the core count (more threads fight over memory bandwidth). */
  concurrency: number;
  /** Hashes allowed to wait; beyond it new ones are refused at once. */
  queueMax: number;
  /**
   * Longest wait to start hashing (burst tolerance): a hash expected to wait
   * longer is refused at once, and an admitted one that still waits this
   * long is given up.
   */
  queueTimeoutMs: number;
  /**
   * CoDel target: when even the shortest wait of a 100 ms interval exceeds
   * it, the queue is standing, not absorbing a burst. Until a second passes
   * with no standing queue and no refusal, a newcomer is admitted only if
   * fewer than two hashes per slot are in front of it. Default 50 ms.
   */
  queueTargetMs?: number;
  memoryCostKib: number;
  timeCost: number;
  parallelism: number;
  /**
   * When the event loop's delay (p99 over 100 ms) exceeds this, one hash slot
   * is given back to the event loop until it recovers: on a small machine,
   * hashes on every core starve the requests that need no hash. 0 disables.
   */
  eventLoopLagLimitMs?: number;
  /** Nice value of the hashing threads (Linux); 0 or absent leaves them alone. */
  nice?: number;
  clock?: Clock;
}

/** One admitted hash or verification: use it once, or release it. */
export interface HashTicket {
  hash(password: string, signal?: AbortSignal): Promise<string>;
  verify(encoded: string, password: string, signal?: AbortSignal): Promise<boolean>;
  /** A verify against a fixed hash: an unknown email costs what a wrong password does. */
  verifyDummy(password: string, signal?: AbortSignal): Promise<void>;
  /** Gives the place back unused (the request ended before its hash). */
  release(): void;
}

interface Job extends HashJob {
  enqueuedAtMs: number;
  /** False when it started the moment it was submitted (an idle thread took it). */
  waited: boolean;
  /** Admitted with priority: its wait is watched apart from the crowd's. */
  priority: boolean;
}

interface Waiter {
  /** With priority, it waits ahead of every waiter without (see `admit`). */
  job: Job;
  timer: NodeJS.Timeout;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export interface AdmitOptions {
  /**
   * Ahead of the crowd: waits before every hash admitted without it. It is
   * refused only when the hashes in front of it (those running or posted,
   * and those admitted with priority) could not be done within the burst
   * tolerance, or within the CoDel target once the priority lane itself
   * stands. For the few callers the service knows (a login from a device
   * its account knows), so that they are served through an overload the
   * rest of the crowd is refused in. Default false.
   */
  priority?: boolean;
}

const argon2id = 2;
const overloadHoldMs = 1000;
/**
 * Argon2id on a bounded queue sized to the cores. Hashing is CPU-bound: more
 * concurrent work only makes every hash slower, so excess is refused fast
 * (HASH_SATURATED, 503 + Retry-After) instead of queueing until timeouts.
 * The hashing runs on threads of its own (see HashThreads), each handed its
 * next job while it runs one.
 */
export class PasswordHasher {
  readonly #config: PasswordHasherConfig;
  readonly #clock: Clock;
  readonly #queue: Waiter[] = [];
  readonly #threads: HashThreads<Job>;
  #closed = false;
  /**
   * Average of one hash's duration: the mean of the first ten, then an
   * exponential average (weight 0.1). Undefined until the first hash.
   */
  #serviceMs: number | undefined;
  #dummyHash: Promise<string> | undefined;
  #completed = 0;
  #refused = 0;
  #priorityAdmitted = 0;
  /** Admitted tickets not yet used: they will queue, so they count in the estimate. */
  #reserved = 0;
  /** Of those, the ones admitted with priority. */
  #reservedPriority = 0;
  #intervalStartMs = 0;
  #minWaitMs = Number.POSITIVE_INFINITY;
  #priorityMinWaitMs = Number.POSITIVE_INFINITY;
  /** The priority lane stood (as #overloadUntilMs for the crowd's): until then it waits only the target. */
  #priorityStandingUntilMs = Number.NEGATIVE_INFINITY;
  /** Overloaded until then: a second after the queue last stood or refused (see #overloaded). */
  #overloadUntilMs = Number.NEGATIVE_INFINITY;
  /** `concurrency`, or one fewer while the event loop lags (see #slotsNow). */
  #slots: number;
  #lagTimer: NodeJS.Timeout | undefined;
  #lagDelay: LoopDelay | undefined;

  constructor(config: PasswordHasherConfig) {
    this.#config = config;
    this.#clock = config.clock ?? systemClock;
    this.#slots = config.concurrency;
    this.#threads = new HashThreads<Job>(
      {
        count: config.concurrency,
        options: this.#options(),
        nice: config.nice ?? 0,
        clock: this.#clock,
      },
      {
        began: (job, nowMs) => {
          // How long it waited feeds its lane's CoDel watch.
          if (!job.waited) return;
          const waitedMs = nowMs - job.enqueuedAtMs;
          if (job.priority) this.#priorityMinWaitMs = Math.min(this.#priorityMinWaitMs, waitedMs);
          else this.#minWaitMs = Math.min(this.#minWaitMs, waitedMs);
        },
        ended: (tookMs) => this.#ended(tookMs),
        stopped: () => this.#startWaiting(),
      },
    );
    const limitMs = config.eventLoopLagLimitMs ?? 0;
    if (limitMs > 0 && config.concurrency > 1) {
      const delay = new LoopDelay();
      this.#lagDelay = delay;
      this.#lagTimer = setInterval(() => {
        const p99Ms = delay.percentileMs(99);
        delay.reset();
        if (p99Ms > limitMs) this.#slots = config.concurrency - 1;
        else if (p99Ms < limitMs / 2 && this.#slots < config.concurrency) {
          this.#slots = config.concurrency;
          this.#startWaiting();
        }
      }, 100);
      this.#lagTimer.unref();
    }
  }

  /** Hash slots in use now (fewer than `concurrency` while overloaded or the event loop lags). */
  get slots(): number {
    return this.#slotsNow(this.overloaded);
  }

  /**
   * While overloaded, hashing leaves a core to everything else: the event
   * loop, PostgreSQL and the requests that need no hash. Hashes at nice 10
   * on every core still take the others' memory bandwidth and the gaps in
   * their CPU, so every hash takes about twice as long and so does every
   * request around it; with a core left, hashes take their uncontended time
   * and admitted logins their baseline latency. The cost is hash throughput,
   * while the excess is refused anyway. Never below one slot.
   */
  #slotsNow(overloaded: boolean): number {
    return overloaded
      ? Math.max(1, Math.min(this.#slots, this.#config.concurrency - 1))
      : this.#slots;
  }

  /** Resolves once every hashing thread is ready and the dummy hash made; rejects if one cannot start. */
  async ready(): Promise<void> {
    await this.#threads.ready();
    // The dummy hash too: made later, an unknown email's first login would
    // take two hashes, and tell itself apart.
    await this.#dummy();
  }

  /**
   * The fixed hash an unknown email is verified against, made once with
   * today's parameters on a hashing thread. Admitted as made, never
   * refused; if it fails, the next call makes it again.
   */
  #dummy(): Promise<string> {
    if (this.#dummyHash) return this.#dummyHash;
    const made = this.#submit<string>(
      `dummy-${randomBytes(16).toString("hex")}`,
      undefined,
      undefined,
      true,
    );
    this.#dummyHash = made;
    made.catch(() => {
      if (this.#dummyHash === made) this.#dummyHash = undefined;
    });
    return made;
  }

  /** Stops the event-loop watch and the hashing threads; a job still waiting or posted fails. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#lagTimer);
    this.#lagDelay?.stop();
    for (const waiter of [...this.#queue]) this.#drop(waiter, false);
    await this.#threads.close();
  }

  /** Hashes running now (one per busy thread). */
  get running(): number {
    return this.#threads.running;
  }
  /** Hashes waiting: in the queue, or posted to a busy thread as its next. */
  get waiting(): number {
    return this.#queue.length + this.#threads.posted;
  }
  /** The hashing threads' ids in the operating system (Linux; empty elsewhere or until they start). */
  get threadIds(): number[] {
    return this.#threads.threadIds;
  }
  /**
   * Hashes and verifications begun since start, as the threads count them:
   * a thread begins its next job without the event loop, so this can run
   * ahead of `completed` while the loop is busy.
   */
  get begun(): number {
    return this.#threads.begun;
  }
  /** Hashes and verifications finished since start. */
  get completed(): number {
    return this.#completed;
  }
  /**
   * Hashes and verifications answered HASH_SATURATED: refused, or given up
   * after waiting out the burst tolerance (not those whose client went away).
   */
  get refused(): number {
    return this.#refused;
  }
  /**
   * True while overloaded: hashing runs on one slot fewer, and a newcomer is
   * admitted only with fewer than two hashes per slot in front of it.
   */
  get overloaded(): boolean {
    return this.#clock.now() < this.#overloadUntilMs;
  }
  /** Hashes and verifications done with priority (see `AdmitOptions`): tickets used, not released. */
  get priorityAdmitted(): number {
    return this.#priorityAdmitted;
  }
  /** Average milliseconds one hash takes on this machine now. */
  get serviceMs(): number {
    return this.#serviceMs ?? 0;
  }

  hash(password: string, signal?: AbortSignal): Promise<string> {
    return this.#submit<string>(password, undefined, signal);
  }

  verify(encoded: string, password: string, signal?: AbortSignal): Promise<boolean> {
    return this.#submit<boolean>(password, encoded, signal);
  }

  /** True when a stored hash was made with other parameters than today's. */
  needsRehash(encoded: string): boolean {
    try {
      const used = parseOptions(encoded);
      return (
        used.algorithm !== argon2id ||
        used.memoryCost !== this.#config.memoryCostKib ||
        used.timeCost !== this.#config.timeCost ||
        used.parallelism !== this.#config.parallelism
      );
    } catch {
      return true;
    }
  }

  #options() {
    return {
      algorithm: argon2id,
      memoryCost: this.#config.memoryCostKib,
      timeCost: this.#config.timeCost,
      parallelism: this.#config.parallelism,
    } as const;
  }

  /**
   * Admits one hash or verification now, or throws HASH_SATURATED at once,
   * before the caller spends anything on the request (the password policy,
   * an email lookup). The ticket holds its place in the estimate until it is
   * used or released, so what was admitted is not refused later.
   */
  admit(options: AdmitOptions = {}): HashTicket {
    const ticket = this.tryAdmit(options);
    if (!ticket) throw this.#saturated();
    return ticket;
  }

  /**
   * As `admit`, but a refusal is undefined, not an error, and not counted
   * as one: for a caller that has another way in (see Accounts' logins).
   * A refusal still starts or extends the overload, as one made would.
   */
  tryAdmit(options: AdmitOptions = {}): HashTicket | undefined {
    const priority = options.priority ?? false;
    if (this.#refuses(priority)) return undefined;
    this.#reserved++;
    if (priority) this.#reservedPriority++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.#reserved--;
      if (priority) this.#reservedPriority--;
    };
    const use = <T extends string | boolean>(
      password: string,
      encoded: string | undefined,
      signal?: AbortSignal,
    ): Promise<T> => {
      if (!held) return Promise.reject(new Error("hash ticket already used"));
      release();
      if (priority) this.#priorityAdmitted++;
      return this.#submit<T>(password, encoded, signal, true, priority);
    };
    return {
      hash: (password, signal) => use<string>(password, undefined, signal),
      verify: (encoded, password, signal) => use<boolean>(password, encoded, signal),
      verifyDummy: async (password, signal) => {
        const encoded = await this.#dummy(); // made at ready(): awaited outside the slot
        await use<boolean>(password, encoded, signal);
      },
      release,
    };
  }

  /**
   * Admission: refuse now what would wait longer than allowed. While
   * overloaded, a newcomer is admitted only if fewer than two hashes per slot
   * are in front of it (running, queued, or held by a ticket that will
   * queue): it then waits about one hash at most, and the excess is refused
   * at once instead of after waiting out a deadline. Running ones count too,
   * so a slot that frees while the tickets ahead are still in their email
   * lookup or password policy lets the next newcomer in, and a burst into
   * idle slots fills them. Counted, not estimated: the estimate grows when
   * the machine is busy answering refusals, and a limit in time would then
   * shrink with it.
   */
  #refuses(priority: boolean): boolean {
    const now = this.#clock.now();
    const overloaded = this.#overloaded(now);
    const slots = this.#slotsNow(overloaded);
    // With priority, only what runs, is posted (as good as started) or will
    // wait ahead of it is in front: the crowd waits behind it.
    const ahead = priority
      ? this.#threads.posted + this.#priorityWaiting() + this.#reservedPriority
      : this.waiting + this.#reserved;
    const inFront = this.running + ahead;
    if (inFront < slots) return false;
    // The priority lane absorbs bursts within the burst tolerance, as the
    // crowd's does when not overloaded; once it stands (CoDel, below) it
    // admits only what would wait no longer than the target: priority
    // decides who gets in, and a sustained rush of priority callers is
    // refused fast as the crowd is.
    const limitMs =
      priority && now < this.#priorityStandingUntilMs
        ? (this.#config.queueTargetMs ?? 50)
        : this.#config.queueTimeoutMs;
    const refuse =
      overloaded && !priority
        ? inFront >= 2 * slots
        : ahead >= this.#config.queueMax ||
          Math.ceil((ahead + 1) / slots) * this.serviceMs > limitMs;
    // Refusing means demand exceeds capacity: overload lasts while it does
    // (a queue kept at one per slot no longer stands, so CoDel alone would let go).
    if (refuse) this.#overloadUntilMs = now + overloadHoldMs;
    return refuse;
  }

  /** Waiters with priority: the head of the queue, up to the first without. */
  #priorityWaiting(): number {
    const firstWithout = this.#queue.findIndex((waiter) => !waiter.job.priority);
    return firstWithout < 0 ? this.#queue.length : firstWithout;
  }

  #submit<T extends string | boolean>(
    password: string,
    encoded: string | undefined,
    signal?: AbortSignal,
    admitted = false,
    priority = false,
  ): Promise<T> {
    if (signal?.aborted) return Promise.reject(this.#saturated(false));
    if (this.#closed) return Promise.reject(new Error("password hasher closed"));
    return new Promise<T>((resolve, reject) => {
      const job: Job = {
        password,
        encoded,
        resolve: resolve as (value: string | boolean) => void,
        reject,
        enqueuedAtMs: this.#clock.now(),
        waited: false,
        priority,
      };
      const thread = this.#queue.length === 0 ? this.#threads.pick(this.slots) : undefined;
      if (thread?.jobs.length === 0) return this.#threads.post(thread, job);
      // Refuse now what could not start before its deadline anyway.
      if (!admitted && this.#refuses(false)) return reject(this.#saturated());
      // Posted as a busy thread's next, it is as good as started: it starts
      // within a hash, and neither its deadline nor its client leaving takes
      // it back. In the queue, both do.
      if (thread) {
        job.waited = true;
        return this.#threads.post(thread, job);
      }
      const waiter: Waiter = {
        job,
        // Admitted work is served, late rather than never: only a wait past
        // the burst tolerance (the estimate was far off) is given up.
        timer: setTimeout(() => this.#drop(waiter, true), this.#config.queueTimeoutMs),
        signal,
        onAbort: () => this.#drop(waiter, false),
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      if (priority) this.#queue.splice(this.#priorityWaiting(), 0, waiter);
      else this.#queue.push(waiter);
    });
  }

  /** A job ended on its thread: learn the hash time, and start what waits. */
  #ended(tookMs: number): void {
    this.#completed++;
    // The first hash after start is cold (its memory is faulted in) and
    // can take several times the next ones; starting an exponential
    // average from it would overrate every wait for the next ten hashes
    // and refuse the first crowd's logins that would have started in time.
    const weight = Math.max(0.1, 1 / this.#completed);
    this.#serviceMs = (1 - weight) * (this.#serviceMs ?? 0) + weight * tookMs;
    this.#startWaiting();
  }

  #startWaiting(): void {
    while (this.#queue.length > 0) {
      const thread = this.#threads.pick(this.slots);
      if (!thread) return;
      const next = this.#queue.shift();
      if (!next) return;
      clearTimeout(next.timer);
      next.signal?.removeEventListener("abort", next.onAbort);
      next.job.waited = true;
      this.#threads.post(thread, next.job);
    }
  }

  /**
   * Overloaded: in the last `overloadHoldMs` the crowd's queue stood (CoDel:
   * even the shortest wait of a 100 ms interval exceeded the target) or a
   * hash was refused. Held that long because a queue kept short drains now
   * and then; leaving overload at once would admit a full burst tolerance
   * again. The priority lane is watched the same way, apart, and its waits
   * never hide the crowd's.
   */
  #overloaded(now: number): boolean {
    if (now - this.#intervalStartMs >= 100) {
      const targetMs = this.#config.queueTargetMs ?? 50;
      const stood = (shortestMs: number, head: Waiter | undefined) =>
        head !== undefined &&
        (shortestMs === Number.POSITIVE_INFINITY ? now - head.job.enqueuedAtMs : shortestMs) >
          targetMs;
      const priorityHead = this.#queue[0]?.job.priority ? this.#queue[0] : undefined;
      const crowdHead = this.#queue[this.#priorityWaiting()];
      if (stood(this.#minWaitMs, crowdHead)) this.#overloadUntilMs = now + overloadHoldMs;
      if (stood(this.#priorityMinWaitMs, priorityHead))
        this.#priorityStandingUntilMs = now + overloadHoldMs;
      this.#intervalStartMs = now;
      this.#minWaitMs = Number.POSITIVE_INFINITY;
      this.#priorityMinWaitMs = Number.POSITIVE_INFINITY;
    }
    return now < this.#overloadUntilMs;
  }

  /** Takes a waiter out of the queue: given up (`refused`), or its client went away. */
  #drop(waiter: Waiter, refused: boolean): void {
    const index = this.#queue.indexOf(waiter);
    if (index < 0) return;
    this.#queue.splice(index, 1);
    clearTimeout(waiter.timer);
    waiter.signal?.removeEventListener("abort", waiter.onAbort);
    waiter.job.reject(this.#saturated(refused));
  }

  /** HASH_SATURATED with when to come back; `refused` counts it (an aborted request is not). */
  #saturated(refused = true): SpillwayError {
    if (refused) this.#refused++;
    const drainSeconds = ((this.waiting / this.slots) * this.serviceMs) / 1000;
    return new SpillwayError("HASH_SATURATED", {
      retryAfterSeconds: Math.max(1, Math.ceil(drainSeconds)),
    });
  }
}
