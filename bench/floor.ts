/**
 * The login's floor: how close a bare login (Fastify, a pg.Pool and the
 * service's own hashing threads, nothing else) comes to the tight argon2id
 * verify loop on this machine, beside Spillway's login, alternating in one
 * run. It tells the work any login must do apart from Spillway's own: the
 * bare login once with the email lookup alone, and once also writing a
 * session row, as a login must.
 */
import { createHash, randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import Fastify from "fastify";
import pg from "pg";
import { PasswordHasher } from "../src/auth/index.js";
import { registerAccounts, startBenchService } from "./support/bench-service.js";
import { type Load, load, loginRotation } from "./support/load.js";
import { report, round } from "./support/results.js";
import { startVerifyLoop } from "./support/verify-loop.js";

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const rounds = 5;
const cores = availableParallelism();
const password = "violet-harbour-tractor-89";
const loginClients = 3 * cores; // as in bench:auth

const {
  databaseUrl,
  config,
  app: spillway,
  baseUrl: spillwayUrl,
  stop,
} = await startBenchService();
try {
  const accounts = Array.from({ length: 64 }, (_, i) => `bench.${i}@example.com`);
  const { deviceCookies } = await registerAccounts(spillwayUrl, accounts, password);

  // The bare login's own tables, beside the service's.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  await pool.query(`
CREATE SCHEMA floor;
CREATE TABLE floor.users (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, password_hash text NOT NULL);
CREATE TABLE floor.sessions (
  id bigserial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES floor.users,
  token_hash bytea UNIQUE NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
)`);
  const hasher = new PasswordHasher({
    concurrency: config.hashConcurrency,
    queueMax: config.hashQueueMax,
    queueTimeoutMs: config.hashQueueTimeoutMs,
    memoryCostKib: config.argon2MemoryKib,
    timeCost: config.argon2TimeCost,
    parallelism: config.argon2Parallelism,
    nice: config.hashThreadNice,
  });
  await hasher.ready();
  const encoded = await hasher.hash(password);
  for (const email of accounts) {
    await pool.query("INSERT INTO floor.users (email, password_hash) VALUES ($1, $2)", [
      email,
      encoded,
    ]);
  }

  const bare = Fastify();
  bare.post<{ Body: { email: string; password: string }; Params: { kind: string } }>(
    "/:kind/login",
    async (req, reply) => {
      const { rows } = await pool.query<{ id: string; password_hash: string }>({
        name: "floor_find_user",
        text: "SELECT id, password_hash FROM floor.users WHERE email = $1",
        values: [req.body.email],
      });
      const user = rows[0];
      if (!user || !(await hasher.verify(user.password_hash, req.body.password))) {
        return reply.code(401).send({ error: "invalid credentials" });
      }
      if (req.params.kind !== "session") return { user: { id: user.id } };
      const token = randomBytes(32).toString("base64url");
      const session = await pool.query<{ id: string; expires_at: Date }>({
        name: "floor_insert_session",
        text: `INSERT INTO floor.sessions (user_id, token_hash, expires_at)
VALUES ($1, $2, now() + interval '14 days') RETURNING id, expires_at`,
        values: [user.id, createHash("sha256").update(token).digest()],
      });
      return { user: { id: user.id }, session: { token, ...session.rows[0] } };
    },
  );
  const bareUrl = await bare.listen({ port: 0, host: "127.0.0.1" });

  const logins = (url: string) =>
    load(seconds, {
      url,
      method: "POST",
      connections: loginClients,
      headers: { "content-type": "application/json" },
      requests: loginRotation(accounts, password, deviceCookies),
    });

  const runs: {
    loopPerSecond: number;
    bareLookup: Load;
    bareSession: Load;
    spillway: Load;
  }[] = [];
  for (let r = 0; r < rounds; r++) {
    console.log(
      `round ${r + 1}/${rounds}: verify loop, bare login (lookup), bare login (lookup and session), Spillway's login...`,
    );
    const loop = await startVerifyLoop(encoded, password);
    const loopPerSecond = await loop.run(seconds / 2);
    runs.push({
      loopPerSecond: round(loopPerSecond, 1),
      bareLookup: await logins(`${bareUrl}/lookup/login`),
      bareSession: await logins(`${bareUrl}/session/login`),
      spillway: await logins(`${spillwayUrl}/v1/login`),
    });
  }
  const ratios = runs.map((r) => ({
    "loop/s": r.loopPerSecond,
    "bare, lookup": round(r.bareLookup.rps / r.loopPerSecond),
    "bare, lookup + session": round(r.bareSession.rps / r.loopPerSecond),
    spillway: round(r.spillway.rps / r.loopPerSecond),
    "spillway ÷ bare with session": round(r.spillway.rps / r.bareSession.rps),
  }));
  console.log("logins/s ÷ tight-loop verifies/s, per round:");
  console.table(ratios);
  const median = (pick: (r: (typeof ratios)[number]) => number) =>
    ratios.map(pick).sort((a, b) => a - b)[Math.floor(ratios.length / 2)];

  await bare.close();
  await hasher.close();
  await pool.end();
  await spillway.close();

  report("floor", [], {
    seconds,
    loginClients,
    medians: {
      bareLookup: median((r) => r["bare, lookup"]),
      bareSession: median((r) => r["bare, lookup + session"]),
      spillway: median((r) => r.spillway),
      spillwayVsBareSession: median((r) => r["spillway ÷ bare with session"]),
    },
    rounds: runs.map((r, i) => ({ ...r, ratios: ratios[i] })),
    errors: runs.reduce(
      (n, r) =>
        n + [r.bareLookup, r.bareSession, r.spillway].reduce((m, l) => m + l.non2xx + l.errors, 0),
      0,
    ),
  });
} finally {
  await stop();
}
