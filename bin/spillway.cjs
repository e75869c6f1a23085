#!/usr/bin/env node
"use strict";
const cluster = require("node:cluster");
const { runTypeScript } = require("./typescript-entry.cjs");

runTypeScript("../src/cli/main.ts", async ({ main }) => {
  process.exitCode = await main(process.argv.slice(2));
  // A cluster worker's IPC channel would keep a failed worker alive. A bare
  // disconnect makes node:cluster end a worker with 0; its own keeps the code.
  if (process.connected) {
    if (cluster.isWorker) cluster.worker.disconnect();
    else process.disconnect();
  }
}).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
