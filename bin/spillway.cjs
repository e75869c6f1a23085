#!/usr/bin/env node
// CommonJS on purpose: libuv sizes its thread pool on first use, and the ESM
// loader already uses it while loading modules. Set here, before any import,
// the size takes effect: password hashing gets one thread per core and fs,
// dns and crypto keep two threads of their own.
"use strict";
const { availableParallelism } = require("node:os");

process.env.UV_THREADPOOL_SIZE ??= String(availableParallelism() + 2);

(async () => {
  const { register } = await import("tsx/esm/api");
  register();
  const { main } = await import("../src/cli/main.ts");
  process.exitCode = await main(process.argv.slice(2));
  // A cluster worker's IPC channel would keep a failed worker alive.
  if (process.connected) process.disconnect();
})().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
