/**
 * A real peer, side by side: Better Auth (email and password, its defaults,
 * a pg.Pool on the same embedded PostgreSQL) against Spillway (its defaults),
 * each in its own process, under the same load in the same run: sign-in/s,
 * get-session/s, and the short jan15 spike of the lab.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { EmbeddedDatabase } from "../../src/db/index.js";
import { runSpikeLab } from "../../src/lab/index.js";
import { labEmails, labPassword } from "../../src/lab/lab-database.js";
import type { LabReport } from "../../src/lab/report.js";
import { toMarkdown } from "../../src/lab/report.js";
import { startService } from "../../src/lab/service-process.js";
import { type LabApi, seedThroughApi, spillwayApi } from "../../src/lab/target-api.js";
import { freePort } from "../../src/util/index.js";
import { load as loadFor, loginRotation } from "../support/load.js";
import { goal, report } from "../support/results.js";
import { betterAuthApi } from "./better-auth-api.js";

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const spikeScale = Number(process.env.BENCH_SPIKE_SCALE ?? 0.4);
const accounts = labEmails(64);
const load = (options: Parameters<typeof loadFor>[1]) => loadFor(seconds, options);

async function admin(url: string, sql: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(sql);
  await client.end();
}

/** Better Auth in its own process; resolves once it listens. */
async function startBetterAuth(
  databaseUrl: string,
): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [
      new URL("../run.cjs", import.meta.url).pathname,
      new URL("./better-auth-server.ts", import.meta.url).pathname,
    ],
    {
      env: { ...process.env, PEER_DATABASE_URL: databaseUrl, PEER_PORT: String(port) },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"url":"(http:[^"]+)".*better-auth ready/.exec(output);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then(() => reject(new Error(`better-auth exited:\n${output}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), "spillway-peer-"));
chmodSync(dir, 0o755);
const db = new EmbeddedDatabase({ dataDir: join(dir, "data"), port: await freePort() });
try {
  const adminUrl = await db.start();
  const urlOf = (name: string) => {
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    return u.toString();
  };
  await admin(adminUrl, "CREATE DATABASE peer_better_auth");
  await admin(adminUrl, "CREATE DATABASE peer_spillway");
  const ba = await startBetterAuth(urlOf("peer_better_auth"));
  const sp = await startService(
    urlOf("peer_spillway"),
    { http: await freePort(), ops: await freePort() },
    "spillway",
  );
  const sides: { name: string; url: string; api: LabApi; opsUrl?: string; db: string }[] = [
    { name: "better-auth", url: ba.url, api: betterAuthApi(ba.url), db: "peer_better_auth" },
    {
      name: "spillway",
      url: sp.baseUrl,
      api: spillwayApi,
      opsUrl: sp.opsUrl,
      db: "peer_spillway",
    },
  ];
  try {
    // The same accounts on both sides, created through each one's API.
    const [baCookie, spToken] = await Promise.all(
      sides.map(
        async (side) => (await seedThroughApi(side.url, side.api, accounts, labPassword))[0],
      ),
    );
    if (!baCookie || !spToken) throw new Error("seeding gave no session");
    // A get-session that answers 200 with no session would measure nothing.
    const check = await fetch(`${ba.url}/api/auth/get-session`, { headers: { cookie: baCookie } });
    if (!((await check.json()) as { session?: { id?: string } } | null)?.session?.id)
      throw new Error(`better-auth get-session returned no session for ${baCookie}`);

    const signIn = (url: string, path: string, extra: Record<string, string> = {}) =>
      load({
        url: `${url}${path}`,
        method: "POST",
        // Three per core, as in the auth benchmark: enough to keep the
        // hashing busy; more only queues (and Spillway sheds a standing queue).
        connections: 3 * availableParallelism(),
        headers: { "content-type": "application/json", ...extra },
        requests: loginRotation(accounts, labPassword),
      });
    console.log("sign-in: better-auth, spillway...");
    const baSignIn = await signIn(ba.url, "/api/auth/sign-in/email", { origin: ba.url });
    const spSignIn = await signIn(sp.baseUrl, "/v1/login");
    console.log("session checks: better-auth, spillway...");
    const baSession = await load({
      url: `${ba.url}/api/auth/get-session`,
      connections: 32,
      headers: { cookie: baCookie },
    });
    const spSession = await load({
      url: `${sp.baseUrl}/v1/session`,
      connections: 32,
      headers: { authorization: `Bearer ${spToken}` },
    });

    // The lab's short jan15 spike against each, one after the other.
    const spikes: LabReport[] = [];
    for (const side of sides) {
      console.log(`jan15 spike (scale ${spikeScale}): ${side.name}...`);
      spikes.push(
        await runSpikeLab({
          scenario: "jan15",
          configs: [],
          durationScale: spikeScale,
          users: 200,
          ports: freePort,
          target: {
            name: side.name,
            baseUrl: side.url,
            api: side.api,
            databaseUrl: urlOf(side.db),
            ...(side.opsUrl ? { opsUrl: side.opsUrl } : {}),
          },
        }),
      );
    }
    const [baSpike, spSpike] = spikes.map((s) => s.runs[0]);
    if (!baSpike || !spSpike || !spikes[1]) throw new Error("a spike run is missing");
    const combined: LabReport = {
      ...spikes[1],
      description: `${spikes[1].description}; Better Auth (defaults, scrypt, pg.Pool of 10) and Spillway (defaults) in their own processes, same machine, same run, 200 accounts each created through the API`,
      runs: [baSpike, spSpike],
      goals: spikes.flatMap((s) => s.goals),
    };
    writeFileSync(
      new URL("../results/peer-better-auth-spike.md", import.meta.url),
      `${toMarkdown(combined)}\n`,
    );

    report(
      "peer-better-auth",
      [
        goal(
          "signin-vs-better-auth",
          "Spillway logins/s ÷ Better Auth sign-ins/s (same load, same run)",
          spSignIn.rps / baSignIn.rps,
          ">=",
          1,
        ),
        goal(
          "session-vs-better-auth",
          "Spillway session checks/s ÷ Better Auth get-session/s",
          spSession.rps / baSession.rps,
          ">=",
          1,
        ),
        goal(
          "spike-goodput-vs-better-auth",
          "jan15 spike: Spillway goodput ÷ Better Auth goodput (2xx within 500 ms per second)",
          baSpike.headline.goodputRps > 0
            ? spSpike.headline.goodputRps / baSpike.headline.goodputRps
            : Number.POSITIVE_INFINITY,
          ">=",
          1,
        ),
        goal(
          "better-auth-errors",
          "non-2xx and errors on Better Auth's side in the throughput runs (a broken peer run is no comparison)",
          baSignIn.non2xx + baSignIn.errors + baSession.non2xx + baSession.errors,
          "<=",
          0,
        ),
      ],
      {
        seconds,
        hashing: {
          spillway: "argon2id m=19456 KiB t=2 p=1 (@node-rs/argon2), one hash per core at once",
          betterAuth: "scrypt N=16384 r=16 p=1 (its default), on the thread pool",
        },
        betterAuth: { signIn: baSignIn, getSession: baSession, pool: "pg.Pool defaults (max 10)" },
        spillway: { signIn: spSignIn, session: spSession },
        spike: {
          scenario: "jan15",
          durationScale: spikeScale,
          betterAuth: baSpike.headline,
          spillway: spSpike.headline,
          report: "bench/results/peer-better-auth-spike.md",
        },
      },
    );
  } finally {
    await sp.stop();
    await ba.stop();
  }
} finally {
  await db.stop();
  rmSync(dir, { recursive: true, force: true });
}
