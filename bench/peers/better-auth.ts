/**
 * A real peer, side by side: Better Auth (email and password, its defaults,
 * a pg.Pool on the same embedded PostgreSQL) against Spillway, under the
 * same load in the same run: sign-in/s and get-session/s.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import pg from "pg";
import { createSpillway } from "../../src/app.js";
import { resolveConfig } from "../../src/config/index.js";
import { EmbeddedDatabase } from "../../src/db/index.js";
import { load as loadFor, loginRotation } from "../support/load.js";
import { goal, report } from "../support/results.js";

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const password = "violet-harbour-tractor-89";
const accounts = Array.from({ length: 64 }, (_, i) => `peer.${i}@example.com`);
const load = (options: Parameters<typeof loadFor>[1]) => loadFor(seconds, options);

async function admin(url: string, sql: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(sql);
  await client.end();
}

const dir = mkdtempSync(join(tmpdir(), "spillway-peer-"));
chmodSync(dir, 0o755);
const db = new EmbeddedDatabase({
  dataDir: join(dir, "data"),
  port: 54_900 + Math.floor(Math.random() * 90),
});
try {
  const adminUrl = await db.start();
  const urlOf = (name: string) => {
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    return u.toString();
  };
  await admin(adminUrl, "CREATE DATABASE peer_better_auth");
  await admin(adminUrl, "CREATE DATABASE peer_spillway");

  // Better Auth, as its documentation sets it up: defaults, pg.Pool.
  const baPool = new pg.Pool({ connectionString: urlOf("peer_better_auth") });
  const baPort = 18_700 + Math.floor(Math.random() * 100);
  const options = {
    database: baPool,
    secret: "peer-benchmark-secret-0123456789abcdef",
    baseURL: `http://127.0.0.1:${baPort}`,
    emailAndPassword: { enabled: true },
    rateLimit: { enabled: false },
  };
  const auth = betterAuth(options);
  const { runMigrations } = await getMigrations(options);
  await runMigrations();
  const baServer = createServer(toNodeHandler(auth));
  await new Promise<void>((r) => baServer.listen(baPort, "127.0.0.1", r));
  const baUrl = `http://127.0.0.1:${baPort}`;
  let baCookie = "";
  for (const email of accounts) {
    const res = await fetch(`${baUrl}/api/auth/sign-up/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: baUrl },
      body: JSON.stringify({ email, password, name: "Peer" }),
    });
    if (!res.ok) throw new Error(`better-auth sign-up: ${res.status} ${await res.text()}`);
    baCookie = (res.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "";
  }

  // A get-session that answers 200 with no session would measure nothing.
  const check = await fetch(`${baUrl}/api/auth/get-session`, { headers: { cookie: baCookie } });
  const checked = (await check.json()) as { session?: { id?: string } } | null;
  if (!checked?.session?.id)
    throw new Error(`better-auth get-session returned no session for ${baCookie}`);

  // Spillway, its defaults, on the same server.
  const app = await createSpillway(
    resolveConfig(
      {},
      {},
      {
        databaseUrl: urlOf("peer_spillway"),
        port: 0,
        opsPort: 0,
        logLevel: "warn",
        throttleEnabled: false,
      },
    ),
  );
  const spUrl = await app.listen();
  let spToken = "";
  for (const email of accounts) {
    const res = await fetch(`${spUrl}/v1/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    spToken = ((await res.json()) as { session: { token: string } }).session.token;
  }

  const signIn = (url: string, path: string, extra: Record<string, string> = {}) =>
    load({
      url: `${url}${path}`,
      method: "POST",
      connections: 16,
      headers: { "content-type": "application/json", ...extra },
      requests: loginRotation(accounts, password),
    });
  console.log("sign-in: better-auth, spillway...");
  const baSignIn = await signIn(baUrl, "/api/auth/sign-in/email", { origin: baUrl });
  const spSignIn = await signIn(spUrl, "/v1/login");
  console.log("session checks: better-auth, spillway...");
  const baSession = await load({
    url: `${baUrl}/api/auth/get-session`,
    connections: 32,
    headers: { cookie: baCookie },
  });
  const spSession = await load({
    url: `${spUrl}/v1/session`,
    connections: 32,
    headers: { authorization: `Bearer ${spToken}` },
  });

  await app.close();
  await new Promise((r) => baServer.close(r));
  await baPool.end();

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
        "better-auth-errors",
        "non-2xx and errors on Better Auth's side (a broken peer run is no comparison)",
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
    },
  );
} finally {
  await db.stop();
  rmSync(dir, { recursive: true, force: true });
}
