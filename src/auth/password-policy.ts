import { Worker } from "node:worker_threads";
import { SpillwayError } from "../errors/index.js";
import { strengthEstimator } from "./password-strength.mjs";

type Strength = ReturnType<ReturnType<typeof strengthEstimator>>;

export const passwordMinLength = 8;
export const passwordMaxLength = 256;
/**
 * zxcvbn judges the first this many characters. Its cost grows steeply with
 * length for passwords of look-alike characters: a crafted 256-character
 * one took 0.76 s of CPU, at 64 characters 0.2 s (one registration attempt
 * otherwise holds the policy thread for most of a second). What follows the
 * first 64 can only add guesses; a password whose first 64 are guessable on
 * their own (a long repetition) is refused whatever follows.
 */
export const strengthMaxLength = 64;

export interface PasswordPolicyConfig {
  /** zxcvbn score (0-4) a password must reach. */
  minScore: number;
  /**
   * Estimate strength on a worker thread at this nice value (Linux) instead
   * of the event loop, where zxcvbn holds everything else for milliseconds
   * per password. Undefined: on the calling thread.
   */
  workerNice?: number;
}

/**
 * The form a password is checked, hashed and verified in: Unicode NFKC (NIST
 * SP 800-63B 5.1.1.2), so a password is the same wherever it is typed, with
 * composed or decomposed accents, or in full-width forms.
 */
export function normalisePassword(password: string): string {
  return password.normalize("NFKC");
}

interface Pending {
  password: string;
  related: string[];
  resolve: (strength: Strength) => void;
}

/**
 * NIST SP 800-63B: 8 to 256 characters of any kind, no composition rules,
 * and common or guessable passwords refused, with the reason.
 */
export class PasswordPolicy {
  readonly #minScore: number;
  readonly #nice: number | undefined;
  #inThread: ((password: string, related: string[]) => Strength) | undefined;
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #closed = false;

  constructor(config: PasswordPolicyConfig) {
    this.#minScore = config.minScore;
    this.#nice = config.workerNice;
  }

  /** Throws AUTH_PASSWORD_WEAK with the reason; `related` are the user's own words (email, name). */
  async check(password: string, related: readonly string[] = []): Promise<void> {
    const length = [...password].length;
    if (length < passwordMinLength) {
      throw weak(`Use at least ${passwordMinLength} characters.`, "too_short");
    }
    if (length > passwordMaxLength) {
      throw weak(`Use at most ${passwordMaxLength} characters.`, "too_long");
    }
    const strength = await this.#estimate(password, [...related]);
    if (strength.score < this.#minScore) {
      const reason = strength.warning || "This password is easy to guess.";
      const hint = strength.suggestion ?? "Add another word or two.";
      throw weak(`${reason} ${hint}`.trim(), "guessable", strength.score);
    }
  }

  /**
   * Starts the worker thread now, so that it loads zxcvbn's dictionaries (a
   * quarter of a second of CPU, seconds at its nice value on a busy host)
   * before a registration waits on them. Without it the first check starts
   * the thread. Does nothing on the calling thread's policy.
   */
  start(): void {
    if (this.#nice !== undefined && !this.#closed) this.#ensureWorker();
  }

  /** Stops the worker thread; checks in flight are finished on this thread. */
  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  #estimate(password: string, related: string[]): Promise<Strength> {
    const worker = this.#nice === undefined || this.#closed ? undefined : this.#ensureWorker();
    if (!worker) return Promise.resolve(this.#estimateHere(password, related));
    return new Promise((resolve) => {
      const id = this.#nextId++;
      this.#pending.set(id, { password, related, resolve });
      worker.postMessage({ id, password, related });
    });
  }

  #estimateHere(password: string, related: string[]): Strength {
    this.#inThread ??= strengthEstimator(strengthMaxLength);
    return this.#inThread(password, related);
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL("./password-strength-worker.mjs", import.meta.url), {
      workerData: { maxLength: strengthMaxLength, nice: this.#nice ?? 0 },
    });
    worker.unref();
    worker.on("message", ({ id, strength }: { id: number; strength: Strength }) => {
      const pending = this.#pending.get(id);
      this.#pending.delete(id);
      pending?.resolve(strength);
    });
    // A worker that fails leaves no check unanswered: what it held is
    // estimated here, and the next check starts a new worker.
    const fail = () => {
      if (this.#worker === worker) this.#worker = undefined;
      const stranded = [...this.#pending.values()];
      this.#pending.clear();
      for (const p of stranded) p.resolve(this.#estimateHere(p.password, p.related));
    };
    worker.on("error", fail);
    worker.on("exit", fail);
    this.#worker = worker;
    return worker;
  }
}

function weak(message: string, reason: string, score?: number): SpillwayError {
  return new SpillwayError("AUTH_PASSWORD_WEAK", {
    message: `The password is too weak: ${message}`,
    details: score === undefined ? { reason } : { reason, score },
  });
}
