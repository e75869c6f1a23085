"use strict";
// Shared start of the CommonJS entry points (the CLI and the benchmarks).
// CommonJS on purpose: libuv sizes its thread pool on first use, and the ESM
// loader already uses it while loading modules. Set here, before any import,
// the size takes effect: argon2's async API (the accounts benchmark's
// reference; the service hashes on threads of its own) gets one thread per
// core and fs, dns and crypto keep two of their own. Then TypeScript is
// loaded through tsx.
const { availableParallelism } = require("node:os");

process.env.UV_THREADPOOL_SIZE ??= String(availableParallelism() + 2);

// Start libuv's thread pool now (its first request creates every thread
// before returning) and note which threads it added, so the accounts
// benchmark can tell their CPU time apart (src/util/thread-pool.ts).
// Linux only: elsewhere there is no /proc and nothing is noted.
try {
  const { readdirSync, access } = require("node:fs");
  const before = new Set(readdirSync("/proc/self/task"));
  access(__filename, () => {});
  globalThis[Symbol.for("spillway.threadPoolThreadIds")] = readdirSync("/proc/self/task")
    .filter((id) => !before.has(id))
    .map(Number);
} catch {}

/** Registers tsx, imports `url` and runs `start` on the module. */
async function runTypeScript(url, start) {
  const { register } = await import("tsx/esm/api");
  register();
  await start(await import(url));
}

module.exports = { runTypeScript };
