import type { DatabasePool } from "../pool/index.js";
import { migrations as allMigrations, type Migration } from "./migrations.js";

// Arbitrary but fixed: every instance takes the same advisory lock to migrate.
const migrationLockKey = 7_291_845_113;

export interface MigrateResult {
  applied: number[];
  current: number;
}

/**
 * Applies pending migrations under a session advisory lock so that many
 * instances starting at once apply each migration exactly once.
 */
export async function migrate(
  pool: DatabasePool,
  migrations: readonly Migration[] = allMigrations,
): Promise<MigrateResult> {
  const client = await pool.connect({ lane: "critical" });
  let broken = false;
  try {
    await client.query({ text: "SET statement_timeout = 0" });
    await client.query({ text: "SELECT pg_advisory_lock($1)", values: [migrationLockKey] });
    try {
      await client.query({
        text: `CREATE TABLE IF NOT EXISTS spillway_migrations (
          version integer PRIMARY KEY,
          name text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now())`,
      });
      const done = await client.query<{ version: number }>({
        text: "SELECT version FROM spillway_migrations",
      });
      const have = new Set(done.rows.map((row) => row.version));
      const applied: number[] = [];
      for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
        if (have.has(migration.version)) continue;
        await client.query({ text: "BEGIN" });
        try {
          await client.query({ text: migration.sql });
          await client.query({
            text: "INSERT INTO spillway_migrations (version, name) VALUES ($1, $2)",
            values: [migration.version, migration.name],
          });
          await client.query({ text: "COMMIT" });
        } catch (err) {
          await client.query({ text: "ROLLBACK" }).catch(() => {});
          throw err;
        }
        applied.push(migration.version);
        have.add(migration.version);
      }
      return { applied, current: Math.max(0, ...have) };
    } finally {
      await client.query({ text: "SELECT pg_advisory_unlock($1)", values: [migrationLockKey] });
    }
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    await client.query({ text: "RESET statement_timeout" }).catch(() => {});
    client.release(broken);
  }
}
