#!/usr/bin/env node
// Runs a TypeScript benchmark with the same thread-pool sizing as the
// service (see bin/spillway.cjs): set before anything touches libuv's pool.
"use strict";
const { availableParallelism } = require("node:os");
const { pathToFileURL } = require("node:url");
const { resolve } = require("node:path");

process.env.UV_THREADPOOL_SIZE ??= String(availableParallelism() + 2);

(async () => {
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(resolve(process.argv[2])).href);
})().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
