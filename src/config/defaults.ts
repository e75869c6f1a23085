import { availableParallelism } from "node:os";

/**
 * Every setting, its default and its bounds, in one place. Each key is read
 * from the flag `--kebab-case` or the variable `SPILLWAY_UPPER_SNAKE` (flag
 * first); a few also answer to a conventional variable (`env`).
 */
export const settings = {
  port: { kind: "int", default: 8080, min: 0, max: 65535, env: "PORT", doc: "HTTP port" },
  host: { kind: "string", default: "127.0.0.1", doc: "HTTP listen address" },
  opsEnabled: {
    kind: "bool",
    default: true,
    doc: "serve the operators' listener (/metrics)",
  },
  opsPort: {
    kind: "int",
    default: 9464,
    min: 0,
    max: 65535,
    doc: "operators' listener port (0: any free port)",
  },
  opsHost: {
    kind: "string",
    default: "127.0.0.1",
    doc: "operators' listener address; keep it off public networks",
  },
  logLevel: {
    kind: "enum",
    default: "info",
    values: ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
    doc: "log level",
  },
  trustProxy: {
    kind: "proxies",
    default: false,
    doc: "addresses of the proxies in front, whose X-Forwarded-For names the client (and so its per-IP limits): IPs, CIDR ranges, loopback, linklocal or uniquelocal, comma-separated (e.g. 10.0.0.0/8); false: the connection's own address",
  },
  bodyLimitBytes: {
    kind: "int",
    default: 16_384,
    min: 1024,
    max: 1_048_576,
    doc: "largest request body",
  },
  workers: {
    kind: "int",
    default: 1,
    min: 1,
    max: 64,
    doc: "processes serving on this host (node:cluster)",
  },
  requestTimeoutMs: {
    kind: "int",
    // Bodies are at most 16 KiB: a client still sending after this is slow
    // on purpose, holding a connection (slowloris).
    default: 30_000,
    min: 100,
    max: 600_000,
    doc: "longest time to receive a whole request; a slower one is answered 408 and disconnected",
  },
  shutdownTimeoutMs: {
    kind: "int",
    default: 10_000,
    min: 100,
    max: 600_000,
    doc: "drain time on SIGTERM",
  },

  databaseUrl: {
    kind: "string?",
    default: null,
    env: "DATABASE_URL",
    doc: "PostgreSQL URL; unset: an embedded PostgreSQL is started",
  },
  dataDir: { kind: "string", default: ".spillway/data", doc: "embedded PostgreSQL data directory" },
  embeddedPgPort: {
    kind: "int",
    default: 54329,
    min: 1,
    max: 65535,
    doc: "embedded PostgreSQL port",
  },

  poolMode: {
    kind: "enum",
    default: "adaptive",
    values: ["adaptive", "plain"],
    doc: "adaptive pool, or plain pg.Pool (fixed size, FIFO wait; for comparison)",
  },
  poolMax: {
    kind: "int",
    default: 40,
    min: 1,
    max: 1000,
    doc: "database connections at most (the fair share of max_connections may be lower)",
  },
  poolMin: { kind: "int", default: 2, min: 0, max: 1000, doc: "connections kept open when idle" },
  poolLimit: {
    kind: "enum",
    default: "vegas",
    values: ["vegas", "gradient2", "aimd", "fixed"],
    doc: "algorithm for the limit on in-flight database operations (fixed: poolMax)",
  },
  poolMinLimit: {
    kind: "int",
    default: 10,
    min: 1,
    max: 1000,
    doc: "floor of the adaptive limit (a CPU-bound service inflates round trips; the limit must not collapse below a plain pool)",
  },
  poolQueueMax: {
    kind: "int",
    default: 1000,
    min: 1,
    max: 1_000_000,
    doc: "waiters for a connection at most",
  },
  poolQueueTargetMs: {
    kind: "int",
    // 10 ms shed session checks whose wait came from a CPU-bound event loop,
    // not from the database; 50 ms measured 890 vs 662 goodput/s in the lab.
    default: 50,
    min: 1,
    max: 10_000,
    doc: "CoDel target queueing delay",
  },
  poolHeadroom: {
    kind: "int",
    default: 2,
    min: 0,
    max: 1000,
    doc: "connections left for other clients",
  },
  poolHeartbeatMs: {
    kind: "int",
    default: 2000,
    min: 100,
    max: 600_000,
    doc: "connection budget refresh",
  },
  poolLeakThresholdMs: {
    kind: "int",
    default: 10_000,
    min: 0,
    max: 3_600_000,
    doc: "report checkouts held longer; 0 off",
  },
  poolAcquireTimeoutMs: {
    kind: "int",
    default: 2000,
    min: 1,
    max: 120_000,
    doc: "longest wait for a database connection",
  },
  statementTimeoutMs: {
    kind: "int",
    default: 5000,
    min: 10,
    max: 600_000,
    doc: "server-side statement timeout",
  },

  sessionTtlSeconds: {
    kind: "int",
    default: 1_209_600,
    min: 60,
    max: 31_536_000,
    doc: "idle session lifetime (sliding)",
  },
  sessionRenewAfterSeconds: {
    kind: "int",
    default: 3600,
    min: 1,
    max: 86_400,
    doc: "sliding expiry is written at most once per this interval",
  },
  sessionMaxLifetimeSeconds: {
    kind: "int",
    default: 2_592_000,
    min: 60,
    max: 31_536_000,
    doc: "absolute session lifetime: a session ends this long after its login, however often it is used",
  },
  sessionCacheTtlMs: {
    kind: "int",
    default: 5000,
    min: 0,
    max: 600_000,
    doc: "session check cache lifetime; 0 disables",
  },
  sessionCacheMaxEntries: {
    kind: "int",
    default: 100_000,
    min: 1,
    max: 10_000_000,
    doc: "session cache size",
  },
  sessionRetentionSeconds: {
    kind: "int",
    default: 604_800,
    min: 0,
    max: 31_536_000,
    doc: "an ended (expired or revoked) session is deleted this long after it ended",
  },
  sessionPurgeIntervalSeconds: {
    kind: "int",
    default: 3600,
    min: 0,
    max: 86_400,
    doc: "how often ended sessions and old auth events are swept; 0 off",
  },
  authEventRetentionDays: {
    kind: "int",
    default: 365,
    min: 0,
    max: 36_500,
    doc: "auth events (with their IP addresses) are deleted this many days after they happened; 0 keeps them forever",
  },
  cookieName: {
    kind: "string",
    default: "spillway_session",
    // RFC 6265's cookie-name: an HTTP token.
    pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/,
    patternDoc: "a cookie name (letters, digits and !#$%&'*+-.^_`|~)",
    doc: "session cookie name; over https, __Host-spillway_session binds it to this host",
  },
  cookieSecure: { kind: "bool", default: false, doc: "mark cookies Secure (serve over https)" },

  hashConcurrency: {
    kind: "int",
    default: availableParallelism(),
    min: 1,
    max: 256,
    doc: "password hashes at once (default: cores)",
  },
  hashQueueMax: {
    kind: "int",
    default: 512,
    min: 1,
    max: 100_000,
    doc: "password hashes waiting at most",
  },
  hashQueueTimeoutMs: {
    kind: "int",
    default: 1000,
    min: 1,
    max: 60_000,
    doc: "longest wait to start a hash while absorbing a burst",
  },
  hashQueueTargetMs: {
    kind: "int",
    default: 50,
    min: 1,
    max: 10_000,
    doc: "CoDel target for the hash queue: once it stands above this (or refuses), hash on one core fewer and admit at most one waiting hash per slot until a second passes with neither",
  },
  hashThreadNice: {
    kind: "int",
    default: 10,
    min: 0,
    max: 19,
    doc: "nice value of the hashing threads (Linux): the event loop and database come first; 0 leaves them alone",
  },
  hashEventLoopLagLimitMs: {
    kind: "int",
    // Off by default: under a steady full load of logins it halved hashing
    // and refused logins that two slots would have served in time.
    default: 0,
    min: 0,
    max: 10_000,
    doc: "event-loop delay (p99) above which one hash slot goes back to request handling; 0 off",
  },
  argon2MemoryKib: {
    kind: "int",
    default: 19_456,
    min: 1024,
    max: 4_194_304,
    doc: "argon2id memory cost",
  },
  argon2TimeCost: { kind: "int", default: 2, min: 1, max: 100, doc: "argon2id passes" },
  argon2Parallelism: { kind: "int", default: 1, min: 1, max: 16, doc: "argon2id lanes" },
  passwordMinScore: { kind: "int", default: 2, min: 0, max: 4, doc: "least zxcvbn score accepted" },

  throttleEnabled: {
    kind: "bool",
    default: true,
    doc: "per-IP rate limits on credentials and failed session lookups",
  },
  ipBurst: {
    kind: "int",
    default: 20,
    min: 1,
    max: 1_000_000,
    doc: "per-IP burst of credential attempts",
  },
  ipRefillPerSecond: {
    kind: "int",
    default: 2,
    min: 1,
    max: 1_000_000,
    doc: "per-IP sustained attempts/s",
  },
  sessionLookupBurst: {
    kind: "int",
    default: 50,
    min: 1,
    max: 1_000_000,
    doc: "per-IP burst of session lookups that find nothing (with throttleEnabled)",
  },
  sessionLookupRefillPerSecond: {
    kind: "int",
    default: 5,
    min: 1,
    max: 1_000_000,
    doc: "per-IP sustained session lookups/s that find nothing",
  },
  loginMaxFailures: {
    kind: "int",
    default: 5,
    min: 1,
    max: 1000,
    doc: "failed logins before lockout",
  },
  lockoutBaseSeconds: {
    kind: "int",
    default: 30,
    min: 1,
    max: 86_400,
    doc: "first lockout; doubles each time",
  },
  lockoutMaxSeconds: { kind: "int", default: 3600, min: 1, max: 604_800, doc: "longest lockout" },
  knownDeviceDays: {
    kind: "int",
    default: 180,
    min: 0,
    max: 3650,
    doc: "a browser that logged in to an account stays known to it this many days after its last login: its wrong passwords lock only itself, and others' never lock it out; 0 off (every known device is forgotten)",
  },
} as const satisfies Record<string, Setting>;

export type Setting =
  | { kind: "int"; default: number; min: number; max: number; env?: string; doc: string }
  | { kind: "bool"; default: boolean; env?: string; doc: string }
  | {
      kind: "string";
      default: string;
      pattern?: RegExp;
      patternDoc?: string;
      env?: string;
      doc: string;
    }
  | { kind: "string?"; default: null; env?: string; doc: string }
  | { kind: "enum"; default: string; values: readonly string[]; env?: string; doc: string }
  | { kind: "proxies"; default: false; env?: string; doc: string };

/**
 * Whose X-Forwarded-For is believed: no one's, or the proxies at these
 * addresses (IPs, CIDR ranges, or proxy-addr's `loopback`, `linklocal`,
 * `uniquelocal`). Never everyone's (the header's leftmost entries are
 * whatever the client wrote), nor a hop count (it cannot tell a proxy from a
 * client that connects directly; Fastify ignores one).
 */
export type ProxyTrust = false | readonly string[];

type ValueOf<S> = S extends { kind: "proxies" }
  ? ProxyTrust
  : S extends { kind: "int" }
    ? number
    : S extends { kind: "bool" }
      ? boolean
      : S extends { kind: "string" }
        ? string
        : S extends { kind: "string?" }
          ? string | null
          : S extends { values: readonly (infer V)[] }
            ? V
            : never;

export type Settings = typeof settings;
export type Config = { readonly [K in keyof Settings]: ValueOf<Settings[K]> };
