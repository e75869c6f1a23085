/**
 * Better Auth as its documentation sets it up (email and password, its
 * defaults, a pg.Pool), alone in its own process like Spillway in the lab.
 * PEER_DATABASE_URL and PEER_PORT; prints one "better-auth ready" JSON line.
 */
import { createServer } from "node:http";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import pg from "pg";

const port = Number(process.env.PEER_PORT);
const pool = new pg.Pool({ connectionString: process.env.PEER_DATABASE_URL });
const options = {
  database: pool,
  secret: "peer-benchmark-secret-0123456789abcdef",
  baseURL: `http://127.0.0.1:${port}`,
  emailAndPassword: { enabled: true },
  // Off, as Spillway's per-IP throttle is off in the lab: every request comes from 127.0.0.1.
  rateLimit: { enabled: false },
};
const { runMigrations } = await getMigrations(options);
await runMigrations();
const server = createServer(toNodeHandler(betterAuth(options)));
await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
console.log(JSON.stringify({ url: `http://127.0.0.1:${port}`, msg: "better-auth ready" }));

process.once("SIGTERM", () => {
  server.closeAllConnections();
  server.close(() => void pool.end().then(() => process.exit(0)));
});
