import { Worker } from "node:worker_threads";
import type { Clock } from "../util/index.js";

export interface HashThreadsConfig {
  /** Threads, one per hash slot. */
  count: number;
  /** argon2 options every hash is made with (@node-rs/argon2's). */
  options: {
    algorithm: number;
    memoryCost: number;
    timeCost: number;
    parallelism: number;
  };
  /** Nice value of the threads (Linux); 0 leaves them alone. */
  nice: number;
  clock: Clock;
}

/** A hash (no `encoded`) or a verification against `encoded`, and where its answer goes. */
export interface HashJob {
  password: string;
  encoded: string | undefined;
  resolve: (value: string | boolean) => void;
  reject: (err: Error) => void;
}

/** What the threads tell their owner, as the event loop learns it. */
export interface HashThreadsEvents<J extends HashJob> {
  /** A job began: posted to an idle thread, or the job before it on its thread ended. */
  began(job: J, nowMs: number): void;
  /** A job ended (answered or failed), having taken `tookMs` on its thread. */
  ended(tookMs: number): void;
  /** A thread stopped and failed what it held; its slot takes jobs again. */
  stopped(): void;
}

/** A hashing thread and the jobs posted to it, in order: the first is running. */
export interface HashThread<J extends HashJob> {
  readonly jobs: J[];
  readonly worker: Worker;
  /** When its running job began: posted to it idle, or its last job ended. */
  startedAtMs: number;
  /** Its id in the operating system (Linux), once the thread has said. */
  threadId: number | undefined;
  /** Settles when the thread is ready to hash (its priority set), or fails to start. */
  online: Promise<void>;
}

type JobAnswer = { value: string | boolean } | { error: string };
type ThreadMessage = { threadId: number } | JobAnswer;

/**
 * Jobs posted to a thread at once: the running one and the next. The next
 * then begins the moment the running one ends, on that thread, instead of
 * after the event loop has heard of the end and posted it (a gap each hash
 * that left a core idle about a twentieth of the time under a full load of
 * logins). A job posted stays posted: one hash is the most it waits there.
 */
const postedPerThread = 2;

/**
 * The password hasher's threads: one per slot, each running argon2id jobs
 * one after another (src/auth/argon2-worker.mjs). The same thread keeps
 * reusing its argon2 memory (libuv's shared pool handed jobs to any of its
 * threads, which cost each hash more page faults), and libuv's pool is left
 * to fs and dns. Which jobs run, and when, is the hasher's to decide.
 */
export class HashThreads<J extends HashJob> {
  readonly #config: HashThreadsConfig;
  readonly #events: HashThreadsEvents<J>;
  /** By slot; started with these, restarted at the next job when one fails. */
  readonly #threads: (HashThread<J> | undefined)[];
  /** Jobs begun, counted by the threads themselves as they begin each (shared memory). */
  readonly #begun = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  #closed = false;

  constructor(config: HashThreadsConfig, events: HashThreadsEvents<J>) {
    this.#config = config;
    this.#events = events;
    this.#threads = Array.from({ length: config.count }, (_, slot) => this.#start(slot));
  }

  /** Resolves once every thread is ready; rejects if one cannot start. */
  async ready(): Promise<void> {
    await Promise.all(this.#threads.map((thread) => thread?.online));
  }

  /** Stops the threads; what was posted to them fails. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#threads.map((thread) => thread?.worker.terminate()));
  }

  /** Jobs running now (one per busy thread). */
  get running(): number {
    let running = 0;
    for (const thread of this.#threads) if (thread?.jobs.length) running++;
    return running;
  }
  /** Jobs posted to a busy thread as its next, not begun. */
  get posted(): number {
    let posted = 0;
    for (const thread of this.#threads) posted += Math.max(0, (thread?.jobs.length ?? 0) - 1);
    return posted;
  }
  /**
   * Jobs begun since start, as the threads count them: a thread begins its
   * next job without the event loop, so this can run ahead of the answers
   * while the loop is busy.
   */
  get begun(): number {
    return Atomics.load(this.#begun, 0);
  }
  /** The threads' ids in the operating system (Linux; empty elsewhere or until they start). */
  get threadIds(): number[] {
    return this.#threads.flatMap((thread) => (thread?.threadId ? [thread.threadId] : []));
  }

  /**
   * A thread of the first `slots` with room for a job: an idle one first,
   * else the one whose running job began first (it ends first). Undefined
   * when all are full or these are closed.
   */
  pick(slots: number): HashThread<J> | undefined {
    if (this.#closed) return undefined;
    let best: HashThread<J> | undefined;
    for (let slot = 0; slot < Math.min(slots, this.#threads.length); slot++) {
      const thread = this.#threads[slot] ?? this.#start(slot);
      this.#threads[slot] = thread;
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

  /** Posts `job` to `thread` (from `pick`): it begins now if the thread is idle, else next. */
  post(thread: HashThread<J>, job: J): void {
    thread.jobs.push(job);
    if (thread.jobs.length === 1) {
      thread.startedAtMs = this.#config.clock.now();
      thread.worker.ref();
      this.#events.began(job, thread.startedAtMs);
    }
    thread.worker.postMessage({ password: job.password, encoded: job.encoded });
  }

  #start(slot: number): HashThread<J> {
    const worker = new Worker(new URL("./argon2-worker.mjs", import.meta.url), {
      workerData: {
        options: this.#config.options,
        nice: this.#config.nice,
        begun: this.#begun.buffer,
      },
    });
    worker.unref();
    let online = { resolve: () => {}, reject: (_err: Error) => {} };
    const thread: HashThread<J> = {
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
      if (!this.#closed) this.#events.stopped();
    };
    worker.on("error", fail);
    worker.on("exit", () => fail());
    return thread;
  }

  #answered(thread: HashThread<J>, message: JobAnswer): void {
    const job = thread.jobs.shift();
    if (!job) return;
    const now = this.#config.clock.now();
    const tookMs = now - thread.startedAtMs;
    const next = thread.jobs[0];
    if (next) {
      thread.startedAtMs = now;
      this.#events.began(next, now);
    } else {
      thread.worker.unref();
    }
    this.#events.ended(tookMs);
    if ("error" in message) job.reject(new Error(message.error));
    else job.resolve(message.value);
  }
}
