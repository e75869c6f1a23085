import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hash } from "@node-rs/argon2";
import pg from "pg";
import { hashSessionToken } from "../auth/index.js";
import { EmbeddedDatabase, migrate } from "../db/index.js";
import { PlainPool } from "../pool/index.js";

export const labPassword = "violet-harbour-tractor-89";

/** The seeded accounts' emails: user1@lab.example ... userN@lab.example. */
export function labEmails(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `user${i + 1}@lab.example`);
}
const template = "lab_template";

/**
 * A fresh embedded PostgreSQL for the lab, seeded once into a template
 * database; every run gets its own copy, so configs start from the same data.
 */
export class LabDatabase {
  readonly #dir: string;
  readonly server: EmbeddedDatabase;
  adminUrl = "";
  /** Session tokens of seeded users (for session checks). */
  tokens: string[] = [];
  /** Seeded accounts' emails, all with `labPassword`. */
  emails: string[] = [];

  constructor(port: number) {
    this.#dir = mkdtempSync(join(tmpdir(), "spillway-lab-"));
    chmodSync(this.#dir, 0o755);
    this.server = new EmbeddedDatabase({
      dataDir: join(this.#dir, "data"),
      port,
      settings: { max_connections: 100 },
    });
  }

  async start(users: number, sessions: number): Promise<void> {
    this.adminUrl = await this.server.start();
    this.emails = labEmails(users);
    await this.#admin(`CREATE DATABASE ${template}`);
    const url = this.urlOf(template);
    const pool = new PlainPool({
      connectionString: url,
      max: 1,
      acquireTimeoutMs: 60_000,
      statementTimeoutMs: 600_000,
      idleInTransactionTimeoutMs: 600_000,
      applicationName: "spillway-lab-seed",
    });
    try {
      await migrate(pool);
      // One hash for every seeded user: a verify costs the same whoever logs in.
      const passwordHash = await hash(labPassword, {
        algorithm: 2,
        memoryCost: 19_456,
        timeCost: 2,
        parallelism: 1,
      });
      await pool.query({
        text: `INSERT INTO users (email, password_hash)
               SELECT 'user' || i || '@lab.example', $1 FROM generate_series(1, $2::int) AS i`,
        values: [passwordHash, users],
      });
      // One session per seeded user at most: a token without a row would be a 401, not load.
      this.tokens = Array.from({ length: Math.min(sessions, users) }, () =>
        randomBytes(32).toString("base64url"),
      );
      await pool.query({
        text: `INSERT INTO sessions (user_id, token_hash, expires_at)
               SELECT u.id, t.h, now() + interval '14 days'
               FROM unnest($1::bytea[]) WITH ORDINALITY AS t(h, n)
               JOIN users u ON u.email = 'user' || t.n || '@lab.example'`,
        values: [this.tokens.map((token) => hashSessionToken(token))],
      });
      await pool.query({ text: "ANALYZE" });
    } finally {
      await pool.end();
    }
  }

  /** A fresh copy of the seeded database; `slowQuery` drops the email index. */
  async createRunDatabase(name: string, slowQuery: boolean): Promise<string> {
    await this.#admin(`CREATE DATABASE ${name} TEMPLATE ${template}`);
    const url = this.urlOf(name);
    if (slowQuery) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query("DROP INDEX users_email_key");
      await client.query("ANALYZE users");
      await client.end();
    }
    return url;
  }

  urlOf(database: string): string {
    const url = new URL(this.adminUrl);
    url.pathname = `/${database}`;
    return url.toString();
  }

  async stop(): Promise<void> {
    await this.server.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async #admin(sql: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }
}
