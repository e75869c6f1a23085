import { setPriority } from "node:os";

const key = Symbol.for("spillway.threadPoolThreadIds");

/**
 * Lowers the CPU priority (raises the nice value) of libuv's thread pool,
 * where password hashing runs. On a saturated host the event loop, which
 * answers session checks and sheds, and the database then get the CPU first;
 * hashing takes what is left, and its queue refuses what cannot wait. The
 * thread ids are noted by the entry point (bin/typescript-entry.cjs) when it
 * starts the pool; without them (another entry point, not Linux) nothing
 * changes. Returns how many threads were changed.
 */
export function lowerThreadPoolPriority(nice: number): number {
  if (nice <= 0) return 0;
  let changed = 0;
  for (const id of threadPoolThreadIds()) {
    try {
      // On Linux a thread id names that one thread.
      setPriority(id, nice);
      changed++;
    } catch {
      // The thread is gone or the system refuses: leave it.
    }
  }
  return changed;
}

/** libuv's thread-pool thread ids as noted by the entry point; empty when not noted. */
export function threadPoolThreadIds(): number[] {
  const ids = (globalThis as Record<symbol, unknown>)[key];
  return Array.isArray(ids) ? ids.map(Number) : [];
}
