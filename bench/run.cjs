#!/usr/bin/env node
// Runs a TypeScript benchmark with the service's thread-pool sizing.
"use strict";
const { pathToFileURL } = require("node:url");
const { resolve } = require("node:path");
const { runTypeScript } = require("../bin/typescript-entry.cjs");

runTypeScript(pathToFileURL(resolve(process.argv[2])).href, async () => {}).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
