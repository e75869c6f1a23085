import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { EmbeddedDatabase } from "../../src/db/index.js";
import { freePort } from "./free-port.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Superuser URL of the test run's embedded PostgreSQL. */
    adminUrl: string;
  }
}

/** One real PostgreSQL for the whole run; every test file gets its own database in it. */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), "spillway-test-"));
  chmodSync(dir, 0o755); // as root, the server runs as 'postgres' and must reach its data
  const db = new EmbeddedDatabase({
    dataDir: join(dir, "data"),
    port: await freePort(),
    settings: { max_connections: 300, fsync: "off" },
  });
  project.provide("adminUrl", await db.start());
  return async () => {
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
