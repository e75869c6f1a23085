const key = Symbol.for("spillway.threadPoolThreadIds");

/**
 * libuv's thread-pool thread ids as noted by the entry point
 * (bench/run.cjs) when it starts the pool; empty when not noted
 * (another entry point, not Linux). The accounts benchmark charges the CPU of
 * its async argon2 reference to them.
 */
export function threadPoolThreadIds(): number[] {
  const ids = (globalThis as Record<symbol, unknown>)[key];
  return Array.isArray(ids) ? ids.map(Number) : [];
}
