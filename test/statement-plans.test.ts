import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashSessionToken, newSessionToken } from "../src/auth/index.js";
import { statements } from "../src/db/index.js";
import { startTestApp, type TestApp } from "./support/test-app.js";

/**
 * Every statement of the catalog, planned by PostgreSQL against tables of a
 * few thousand rows: none reads a whole table of accounts, sessions or
 * devices to find its rows. The tables a request path reads by key grow
 * with the users, so a missing index is an outage waiting for a crowd.
 */

/** Tables that grow with users and are only ever read by key. */
const keyed = new Set(["users", "sessions", "known_devices"]);

let t: TestApp;
let client: pg.Client;
let userId: string;
let sessionId: string;
let deviceId: string;
beforeAll(async () => {
  t = await startTestApp();
  client = new pg.Client({ connectionString: t.databaseUrl });
  await client.connect();
  await client.query(`
INSERT INTO users (email, password_hash)
  SELECT 'plan.' || g || '@example.com', 'x' FROM generate_series(1, 5000) g;
INSERT INTO sessions (user_id, token_hash, expires_at)
  SELECT u.id, sha256((u.id::text || g)::bytea), now() + interval '1 day'
  FROM users u, generate_series(1, 4) g;
INSERT INTO known_devices (user_id, token_hash)
  SELECT id, sha256(('device' || id::text)::bytea) FROM users;
ANALYZE;`);
  const { rows } = await client.query<{ user_id: string; session_id: string; device_id: string }>(
    `SELECT u.id AS user_id, s.id AS session_id, d.id AS device_id
     FROM users u JOIN sessions s ON s.user_id = u.id JOIN known_devices d ON d.user_id = u.id
     WHERE u.email = 'plan.42@example.com' LIMIT 1`,
  );
  ({
    user_id: userId,
    session_id: sessionId,
    device_id: deviceId,
  } = rows[0] ?? {
    user_id: "",
    session_id: "",
    device_id: "",
  });
});
afterAll(async () => {
  await client?.end();
  await t?.close();
});

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

function* nodes(plan: PlanNode): Generator<PlanNode> {
  yield plan;
  for (const child of plan.Plans ?? []) yield* nodes(child);
}

/** Sample parameters for each statement, of the types the service binds. */
function sampleParams(): Record<keyof typeof statements, unknown[]> {
  const hash = hashSessionToken(newSessionToken());
  return {
    healthCheck: [],
    registerUser: ["new@example.com", null, "x", hash, 3600, "127.0.0.1", "ua", hash],
    findUserForLogin: ["plan.7@example.com", hash, 86_400],
    findUserById: [userId],
    serviceSecret: ["device_token", hash],
    loginSucceeded: [userId, hash, 3600, "127.0.0.1", "ua", null, null, hash, 20],
    loginFailed: [userId, 5, 30, 3600, "127.0.0.1", null],
    deviceLoginFailed: [deviceId, 5, 30, 3600, "127.0.0.1", userId],
    loginFailedUnknown: ["127.0.0.1"],
    findSessionByTokenHash: [hash],
    touchSession: [sessionId, 3600, 86_400],
    listSessions: [userId],
    revokeSession: [sessionId, userId, "revoke", "127.0.0.1"],
    revokeOtherSessions: [userId, sessionId, "127.0.0.1"],
    changePassword: [userId, "x", "y", hash, 3600, "127.0.0.1", "ua", hash],
    purgeEndedSessions: [604_800, 1000],
    purgeKnownDevices: [15_552_000, 1000],
    purgeAuthEvents: [86_400, 1000],
  };
}

describe("the statement catalog's plans", () => {
  const names = Object.keys(statements) as (keyof typeof statements)[];

  it.each(names)("%s reads users, sessions and devices by index only", async (name) => {
    const params = sampleParams()[name];
    expect(params, `sample parameters for ${name}`).toBeDefined();
    const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
      `EXPLAIN (FORMAT JSON) ${statements[name].text}`,
      params,
    );
    const plan = rows[0]?.["QUERY PLAN"][0]?.Plan;
    expect(plan).toBeDefined();
    const fullScans = [...nodes(plan as PlanNode)]
      .filter((n) => n["Node Type"] === "Seq Scan" && keyed.has(n["Relation Name"] ?? ""))
      .map((n) => n["Relation Name"]);
    expect(fullScans).toEqual([]);
  });

  it("looks an email and a token up through their unique indexes", async () => {
    const indexes = async (name: keyof typeof statements) => {
      const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
        `EXPLAIN (FORMAT JSON) ${statements[name].text}`,
        sampleParams()[name],
      );
      const plan = rows[0]?.["QUERY PLAN"][0]?.Plan as PlanNode;
      return [...nodes(plan)].map((n) => n["Index Name"]).filter(Boolean);
    };
    expect(await indexes("findUserForLogin")).toEqual(
      expect.arrayContaining(["users_email_key", "known_devices_token_hash_key"]),
    );
    expect(await indexes("findSessionByTokenHash")).toContain("sessions_token_hash_key");
  });
});
