"use strict";
// Shared start of the CommonJS entry points (the CLI and the benchmarks).
// CommonJS on purpose: libuv sizes its thread pool on first use, and the ESM
// loader already uses it while loading modules. Set here, before any import,
// the size takes effect: password hashing gets one thread per core and fs,
// dns and crypto keep two threads of their own. Then TypeScript is loaded
// through tsx.
const { availableParallelism } = require("node:os");

process.env.UV_THREADPOOL_SIZE ??= String(availableParallelism() + 2);

/** Registers tsx, imports `url` and runs `start` on the module. */
async function runTypeScript(url, start) {
  const { register } = await import("tsx/esm/api");
  register();
  await start(await import(url));
}

module.exports = { runTypeScript };
