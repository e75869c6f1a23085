"use strict";
// Shared start of the CommonJS entry points (the CLI and the benchmarks):
// TypeScript is loaded through tsx.

/** Registers tsx, imports `url` and runs `start` on the module. */
async function runTypeScript(url, start) {
  const { register } = await import("tsx/esm/api");
  register();
  await start(await import(url));
}

module.exports = { runTypeScript };
