import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { createSpillway, type Spillway } from "../../src/app.js";
import { type Config, resolveConfig } from "../../src/config/index.js";

/** A fresh, empty database in the run's PostgreSQL; returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const admin = new pg.Client({ connectionString: inject("adminUrl") });
  const name = `t_${randomBytes(6).toString("hex")}`;
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(inject("adminUrl"));
  url.pathname = `/${name}`;
  return url.toString();
}

export interface TestApp {
  app: Spillway;
  baseUrl: string;
  databaseUrl: string;
  close(): Promise<void>;
}

/** The whole service on a real port against a real database. */
export async function startTestApp(
  overrides: Partial<Config> = {},
  databaseUrl?: string,
): Promise<TestApp> {
  const url = databaseUrl ?? (await createTestDatabase());
  const config = resolveConfig(
    {},
    {},
    {
      port: 0,
      opsPort: 0,
      logLevel: "silent",
      ipBurst: 10_000,
      ...overrides,
      databaseUrl: url,
    },
  );
  const app = await createSpillway(config);
  const baseUrl = await app.listen();
  return { app, baseUrl, databaseUrl: url, close: () => app.close() };
}

/** Runs one SQL query on a database directly, outside the service. */
export async function sql<R = Record<string, unknown>>(
  databaseUrl: string,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as R[];
  } finally {
    await client.end();
  }
}
