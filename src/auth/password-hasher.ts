import { randomBytes } from "node:crypto";
import { Worker } from "node:worker_threads";
import { parseOptions } from "@node-rs/argon2";
import { SpillwayError } from "../errors/index.js";
import { type Clock, LoopDelay, systemClock } from "../util/index.js";

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

/** A hash (no `encoded`) or a verification, and where its answer goes. */
interface Job {
  password: string;
  encoded: string | undefined;
  resolve: (value: string | boolean) => void;
  reject: (err: Error) => void;
  enqueuedAtMs: number;
  /** False when it started the moment it was submitted (an idle thread took it). */
  waited: boolean;
}

interface Waiter {
  job: Job;
  timer: NodeJS.Timeout;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** A hashing thread and the jobs posted to it, in order: the first is running. */
interface HashThread {
  worker: Worker;
  jobs: Job[];
  /** When its running job started: posted to it idle, or its last job ended. */
  startedAtMs: number;
  /** Its id in the operating system (Linux), once the thread has said. */
  threadId: number | undefined;
  /** Settles when the thread is ready to hash (its priority set), or fails to start. */
  online: Promise<void>;
}

type JobAnswer = { value: string | boolean } | { error: string };
type ThreadMessage = { threadId: number } | JobAnswer;

const argon2id = 2;
const overloadHoldMs = 1000;
/**
 * Jobs posted to a thread at once: the running one and the next. The next
 * then starts the moment the running one ends, on that thread, instead of
 * after the event loop has heard of the end and posted it (a gap each hash
 * that left a core idle about a twentieth of the time under a full load of
 * logins). A job posted stays posted: one hash is the most it waits there.
 */
const postedPerThread = 2;

/**
 * Argon2id on a bounded queue sized to the cores, on threads of its own.
 * Hashing is CPU-bound: more concurrent work only makes every hash slower, so
 * excess is refused fast (HASH_SATURATED, 503 + Retry-After) instead of
 * queueing until timeouts.
 *
 * One thread per slot, each hashing one job after another: the same thread
 * keeps reusing its argon2 memory (libuv's shared pool handed jobs to any of
 * its threads, which cost each hash more page faults), and libuv's pool is
 * left to fs and dns.
 */
export class PasswordHasher {
  readonly #config: PasswordHasherConfig;
  readonly #clock: Clock;
  readonly #queue: Waiter[] = [];
  /** By slot; started with the hasher, restarted when one fails. */
  readonly #threads: (HashThread | undefined)[];
  #closed = false;
  /** Jobs begun, counted by the threads themselves as they begin each (shared memory). */
  readonly #begun = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  /**
   * Average of one hash's duration: the mean of the first ten, then an
   * exponential average (weight 0.1). Undefined until the first hash.
   */
  #serviceMs: number | undefined;
  #dummyHash: Promise<string> | undefined;
  #completed = 0;
  #refused = 0;
  /** Admitted tickets not yet used: they will queue, so they count in the estimate. */
  #reserved = 0;
  #intervalStartMs = 0;
  #minWaitMs = Number.POSITIVE_INFINITY;
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
    this.#threads = Array.from({ length: config.concurrency }, (_, slot) =>
      this.#startThread(slot),
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
    await Promise.all(this.#threads.map((thread) => thread?.online));
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
    await Promise.all(this.#threads.map((thread) => thread?.worker.terminate()));
  }

  /** Hashes running now (one per busy thread). */
  get running(): number {
    let running = 0;
    for (const thread of this.#threads) if (thread?.jobs.length) running++;
    return running;
  }
  /** Hashes waiting: in the queue, or posted to a busy thread as its next. */
  get waiting(): number {
    let posted = 0;
    for (const thread of this.#threads) posted += Math.max(0, (thread?.jobs.length ?? 0) - 1);
    return this.#queue.length + posted;
  }
  /** The hashing threads' ids in the operating system (Linux; empty elsewhere or until they start). */
  get threadIds(): number[] {
    return this.#threads.flatMap((thread) => (thread?.threadId ? [thread.threadId] : []));
  }
  /**
   * Hashes and verifications begun since start, as the threads count them:
   * a thread begins its next job without the event loop, so this can run
   * ahead of `completed` while the loop is busy.
   */
  get begun(): number {
    return Atomics.load(this.#begun, 0);
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
  admit(): HashTicket {
    if (this.#refuses()) throw this.#saturated();
    this.#reserved++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.#reserved--;
    };
    const use = <T extends string | boolean>(
      password: string,
      encoded: string | undefined,
      signal?: AbortSignal,
    ): Promise<T> => {
      if (!held) return Promise.reject(new Error("hash ticket already used"));
      release();
      return this.#submit<T>(password, encoded, signal, true);
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
  #refuses(): boolean {
    const now = this.#clock.now();
    const overloaded = this.#overloaded(now);
    const slots = this.#slotsNow(overloaded);
    const ahead = this.waiting + this.#reserved;
    const inFront = this.running + ahead;
    if (inFront < slots) return false;
    const refuse = overloaded
      ? inFront >= 2 * slots
      : ahead >= this.#config.queueMax ||
        Math.ceil((ahead + 1) / slots) * this.serviceMs > this.#config.queueTimeoutMs;
    // Refusing means demand exceeds capacity: overload lasts while it does
    // (a queue kept at one per slot no longer stands, so CoDel alone would let go).
    if (refuse) this.#overloadUntilMs = now + overloadHoldMs;
    return refuse;
  }

  #submit<T extends string | boolean>(
    password: string,
    encoded: string | undefined,
    signal?: AbortSignal,
    admitted = false,
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
      };
      const thread = this.#queue.length === 0 ? this.#threadWithRoom() : undefined;
      if (thread?.jobs.length === 0) return this.#post(thread, job);
      // Refuse now what could not start before its deadline anyway.
      if (!admitted && this.#refuses()) return reject(this.#saturated());
      // Posted as a busy thread's next, it is as good as started: it starts
      // within a hash, and neither its deadline nor its client leaving takes
      // it back. In the queue, both do.
      if (thread) return this.#post(thread, job);
      const waiter: Waiter = {
        job,
        // Admitted work is served, late rather than never: only a wait past
        // the burst tolerance (the estimate was far off) is given up.
        timer: setTimeout(() => this.#drop(waiter, true), this.#config.queueTimeoutMs),
        signal,
        onAbort: () => this.#drop(waiter, false),
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  /**
   * The thread of a slot in use with room for a job: an idle one first, else
   * the one whose running hash started first (it ends first).
   */
  #threadWithRoom(): HashThread | undefined {
    let best: HashThread | undefined;
    const slots = this.slots;
    for (let slot = 0; slot < slots; slot++) {
      const thread = this.#threadOf(slot);
      if (thread.jobs.length >= postedPerThread) continue;
      if (
        !best ||
        thread.jobs.length < best.jobs.length ||
        (thread.jobs.length === best.jobs.length && thread.startedAtMs < best.startedAtMs)
      ) {
        best = thread;
      }
    }
    return best;
  }

  /** The slot's thread, started anew if its last one failed. */
  #threadOf(slot: number): HashThread {
    const thread = this.#threads[slot] ?? this.#startThread(slot);
    this.#threads[slot] = thread;
    return thread;
  }

  #post(thread: HashThread, job: Job): void {
    thread.jobs.push(job);
    if (thread.jobs.length === 1) {
      thread.startedAtMs = this.#clock.now();
      thread.worker.ref();
      this.#started(job, thread.startedAtMs);
    } else {
      job.waited = true;
    }
    thread.worker.postMessage({ password: job.password, encoded: job.encoded });
  }

  /** A job begins hashing: how long it waited feeds the queue's CoDel watch. */
  #started(job: Job, now: number): void {
    if (job.waited) this.#minWaitMs = Math.min(this.#minWaitMs, now - job.enqueuedAtMs);
  }

  #startThread(slot: number): HashThread {
    const worker = new Worker(new URL("./argon2-worker.mjs", import.meta.url), {
      workerData: {
        options: this.#options(),
        nice: this.#config.nice ?? 0,
        begun: this.#begun.buffer,
      },
    });
    worker.unref();
    let online = { resolve: () => {}, reject: (_err: Error) => {} };
    const thread: HashThread = {
      worker,
      jobs: [],
      startedAtMs: 0,
      threadId: undefined,
      online: new Promise<void>((resolve, reject) => {
        online = { resolve, reject };
      }),
    };
    // Awaited by ready(); a thread started later for a failed one is not.
    thread.online.catch(() => {});
    worker.on("message", (message: ThreadMessage) => {
      if ("threadId" in message) {
        thread.threadId = message.threadId || undefined;
        online.resolve();
      } else {
        this.#answered(thread, message);
      }
    });
    // A thread that fails (or is stopped) fails what was posted to it; the
    // slot gets a new thread at its next job.
    const fail = (err?: unknown) => {
      const cause = err instanceof Error ? err : undefined;
      online.reject(new Error("password hashing thread failed to start", { cause }));
      if (this.#threads[slot] === thread) this.#threads[slot] = undefined;
      const stranded = thread.jobs.splice(0);
      for (const job of stranded) {
        job.reject(new Error("password hashing thread stopped", { cause }));
      }
      if (!this.#closed) this.#startWaiting();
    };
    worker.on("error", fail);
    worker.on("exit", () => fail());
    return thread;
  }

  #answered(thread: HashThread, message: JobAnswer): void {
    const job = thread.jobs.shift();
    if (!job) return;
    const now = this.#clock.now();
    const tookMs = now - thread.startedAtMs;
    this.#completed++;
    // The first hash after start is cold (its memory is faulted in) and
    // can take several times the next ones; starting an exponential
    // average from it would overrate every wait for the next ten hashes
    // and refuse the first crowd's logins that would have started in time.
    const weight = Math.max(0.1, 1 / this.#completed);
    this.#serviceMs = (1 - weight) * (this.#serviceMs ?? 0) + weight * tookMs;
    const next = thread.jobs[0];
    if (next) {
      thread.startedAtMs = now;
      this.#started(next, now);
    } else {
      thread.worker.unref();
    }
    this.#startWaiting();
    if ("error" in message) job.reject(new Error(message.error));
    else job.resolve(message.value);
  }

  #startWaiting(): void {
    while (this.#queue.length > 0) {
      const thread = this.#threadWithRoom();
      if (!thread) return;
      const next = this.#queue.shift();
      if (!next) return;
      clearTimeout(next.timer);
      next.signal?.removeEventListener("abort", next.onAbort);
      next.job.waited = true;
      this.#post(thread, next.job);
    }
  }

  /**
   * Overloaded: in the last `overloadHoldMs` the queue stood (CoDel: even the
   * shortest wait of a 100 ms interval exceeded the target) or a hash was
   * refused. Held that long because a queue kept short drains now and then;
   * leaving overload at once would admit a full burst tolerance again.
   */
  #overloaded(now: number): boolean {
    if (now - this.#intervalStartMs >= 100) {
      const head = this.#queue[0];
      const shortest =
        this.#minWaitMs === Number.POSITIVE_INFINITY
          ? head
            ? now - head.job.enqueuedAtMs
            : 0
          : this.#minWaitMs;
      const standing = this.#queue.length > 0 && shortest > (this.#config.queueTargetMs ?? 50);
      if (standing) this.#overloadUntilMs = now + overloadHoldMs;
      this.#intervalStartMs = now;
      this.#minWaitMs = Number.POSITIVE_INFINITY;
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
