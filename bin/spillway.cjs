#!/usr/bin/env node
"use strict";
const { runTypeScript } = require("./typescript-entry.cjs");

runTypeScript("../src/cli/main.ts", async ({ main }) => {
  process.exitCode = await main(process.argv.slice(2));
  // A cluster worker's IPC channel would keep a failed worker alive.
  if (process.connected) process.disconnect();
}).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
