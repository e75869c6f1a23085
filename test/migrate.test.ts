import { describe, expect, it } from "vitest";
import { migrate, migrations } from "../src/db/index.js";
import { PlainPool } from "../src/pool/index.js";
import { createTestDatabase, sql } from "./support/test-app.js";

describe("migrate", () => {
  it("applies each migration exactly once when instances start together", async () => {
    const url = await createTestDatabase();
    const pools = Array.from(
      { length: 3 },
      () =>
        new PlainPool({
          connectionString: url,
          max: 2,
          acquireTimeoutMs: 10_000,
          statementTimeoutMs: 10_000,
          idleInTransactionTimeoutMs: 10_000,
          applicationName: "migrate-test",
        }),
    );
    try {
      const results = await Promise.all(pools.map((pool) => migrate(pool)));
      const applied = results.flatMap((r) => r.applied);
      expect(applied.sort()).toEqual(migrations.map((m) => m.version).sort());
      expect(results.every((r) => r.current === migrations.at(-1)?.version)).toBe(true);
      const rows = await sql(url, "SELECT version FROM spillway_migrations ORDER BY version");
      expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
      // Lookups by email and token hash use their unique indexes.
      const indexes = await sql<{ indexname: string }>(
        url,
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'",
      );
      expect(indexes.map((i) => i.indexname)).toEqual(
        expect.arrayContaining(["users_email_key", "sessions_token_hash_key"]),
      );
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it("rolls back a failing migration completely", async () => {
    const url = await createTestDatabase();
    const pool = new PlainPool({
      connectionString: url,
      max: 1,
      acquireTimeoutMs: 10_000,
      statementTimeoutMs: 10_000,
      idleInTransactionTimeoutMs: 10_000,
      applicationName: "migrate-test",
    });
    try {
      const broken = [
        {
          version: 1,
          name: "broken",
          sql: "CREATE TABLE half (id int); SELECT no_such_function();",
        },
      ];
      await expect(migrate(pool, broken)).rejects.toThrow(/no_such_function/);
      expect(await sql(url, "SELECT 1 FROM pg_tables WHERE tablename = 'half'")).toHaveLength(0);
      expect(await sql(url, "SELECT 1 FROM spillway_migrations")).toHaveLength(0);
    } finally {
      await pool.end();
    }
  });
});
