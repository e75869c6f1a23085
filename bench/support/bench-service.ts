import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSpillway } from "../../src/app.js";
import { resolveConfig } from "../../src/config/index.js";
import { EmbeddedDatabase } from "../../src/db/index.js";

/**
 * An embedded PostgreSQL in a fresh directory and Spillway on it, as the
 * accounts benchmarks run it (the per-IP throttle off: one load generator is
 * one IP). `stop` stops the database and removes the directory; the service
 * is the caller's to close first.
 */
export async function startBenchService() {
  const dir = mkdtempSync(join(tmpdir(), "spillway-bench-"));
  chmodSync(dir, 0o755);
  const db = new EmbeddedDatabase({
    dataDir: join(dir, "data"),
    port: 54_400 + Math.floor(Math.random() * 500),
  });
  const stop = async () => {
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const databaseUrl = await db.start();
    const config = resolveConfig(
      {},
      {},
      { databaseUrl, port: 0, opsPort: 0, logLevel: "warn", throttleEnabled: false },
    );
    const app = await createSpillway(config);
    const baseUrl = await app.listen();
    return { db, databaseUrl, config, app, baseUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Registers each of `emails` with `password` through the API; resolves with
 * the last one's session token and each account's device cookie
 * (`name=value`), in the order of `emails`.
 */
export async function registerAccounts(
  baseUrl: string,
  emails: readonly string[],
  password: string,
): Promise<{ token: string; deviceCookies: string[] }> {
  let token = "";
  const deviceCookies: string[] = [];
  for (const email of emails) {
    const registered = await fetch(`${baseUrl}/v1/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    if (registered.status !== 201) throw new Error(`register ${email}: ${registered.status}`);
    token = ((await registered.json()) as { session: { token: string } }).session.token;
    const device = registered.headers.getSetCookie().find((c) => c.startsWith("spillway_device="));
    deviceCookies.push(device?.split(";")[0] ?? "");
  }
  return { token, deviceCookies };
}
