#!/usr/bin/env node
// Runs a TypeScript benchmark. CommonJS on purpose: libuv sizes its thread
// pool on first use, and the ESM loader already uses it while loading
// modules. Set here, before any import, the size takes effect: argon2's async
// API (the accounts benchmark's reference; the service hashes on threads of
// its own) gets one thread per core, and fs, dns and crypto keep two.
"use strict";
const { availableParallelism } = require("node:os");
const { pathToFileURL } = require("node:url");
const { resolve } = require("node:path");

process.env.UV_THREADPOOL_SIZE ??= String(availableParallelism() + 2);

// Start libuv's thread pool now (its first request creates every thread
// before returning) and note which threads it added, so the accounts
// benchmark can tell their CPU time apart (bench/support/thread-pool.ts).
// Linux only: elsewhere there is no /proc and nothing is noted.
try {
  const { readdirSync, access } = require("node:fs");
  const before = new Set(readdirSync("/proc/self/task"));
  access(__filename, () => {});
  globalThis[Symbol.for("spillway.threadPoolThreadIds")] = readdirSync("/proc/self/task")
    .filter((id) => !before.has(id))
    .map(Number);
} catch {}

const { runTypeScript } = require("../bin/typescript-entry.cjs");

runTypeScript(pathToFileURL(resolve(process.argv[2])).href, async () => {}).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
