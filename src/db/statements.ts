import { statement } from "./statement.js";

/**
 * Every SQL statement the service runs, by name. Lanes order the pool's
 * service under load: existing sessions (interactive) before logins and
 * registrations (bulk), which already wait on password hashing. Parameters are always bound,
 * never spliced; the email and token-hash lookups use unique indexes.
 */

export interface UserRow {
  id: string;
  email: string;
  display_name: string | null;
  password_hash: string;
  /** False for a hash of the password as typed, made before passwords were normalised (NFKC). */
  password_nfkc: boolean;
  locked_until: Date | null;
  created_at: Date;
}

/** A login's user row, with the device the caller presented when the account knows it. */
export interface LoginUserRow extends UserRow {
  device_id: string | null;
  device_locked_until: Date | null;
}

export interface SessionUserRow {
  session_id: string;
  user_id: string;
  email: string;
  display_name: string | null;
  user_created_at: Date;
  session_created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
}

export interface SessionRow {
  id: string;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  ip: string | null;
  user_agent: string | null;
}

export interface RevokedRow {
  id: string;
  token_hash: string;
}

type Ip = string | null;
type UserAgent = string | null;
/** The lockout's settings, as countFailure's $2 to $4. */
export type LockoutParams = [maxFailures: number, baseSeconds: number, maxSeconds: number];

/**
 * Counts a wrong password on a row of `users` or `known_devices` (columns
 * alike), whose id is $1: the failure that reaches $2 locks the row for
 * $3 x 2^lockouts seconds, at most $4, and starts a new count. RETURNING:
 * the row's id and whether this failure locked it.
 */
function countFailure(table: "users" | "known_devices"): string {
  return `
  UPDATE ${table} SET
    failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
    lockouts = CASE WHEN failed_logins + 1 >= $2 THEN lockouts + 1 ELSE lockouts END,
    locked_until = CASE WHEN failed_logins + 1 >= $2
      THEN now() + make_interval(secs => least($3::float8 * power(2, lockouts), $4::float8))
      ELSE locked_until END
  WHERE id = $1
  RETURNING id, (failed_logins = 0 AND locked_until > now()) AS just_locked`;
}

/**
 * Deletes up to $2 rows whose `column` is more than $1 seconds past, oldest
 * first, and counts them. Rows another sweep holds are skipped, so instances
 * sweeping at once share the work instead of waiting on it.
 */
function purgeOldest(
  table: "sessions" | "known_devices",
  column: "ended_at" | "last_login_at",
): string {
  return `
WITH gone AS (
  DELETE FROM ${table} WHERE id IN (
    SELECT id FROM ${table}
    WHERE ${column} < now() - make_interval(secs => $1)
    ORDER BY ${column}
    LIMIT $2
    FOR UPDATE SKIP LOCKED)
  RETURNING 1
)
SELECT count(*)::int AS purged FROM gone`;
}

/** The failure event, and the lockout's when the failure locked (`locked` is countFailure's CTE). */
function failureEvents(locked: string, userId: string, ip: string, detail: string): string {
  return `
  INSERT INTO auth_events (kind, user_id, ip, detail)
  SELECT k, ${userId}, ${ip}, ${detail} FROM ${locked},
    unnest(CASE WHEN ${locked}.just_locked THEN ARRAY['login_failure', 'lockout'] ELSE ARRAY['login_failure'] END) AS k`;
}

export const statements = {
  healthCheck: statement<[], { ok: number }>("health_check", "critical", "SELECT 1 AS ok"),

  /**
   * Creates the user, its first session, the event and (given $8) the
   * registering device in one statement: all or nothing.
   */
  registerUser: statement<
    [
      email: string,
      displayName: string | null,
      passwordHash: string,
      tokenHash: Buffer,
      ttlSeconds: number,
      ip: Ip,
      ua: UserAgent,
      deviceHash: Buffer | null,
    ],
    SessionUserRow
  >(
    "register_user",
    "bulk",
    `
WITH u AS (
  INSERT INTO users (email, display_name, password_hash) VALUES ($1, $2, $3)
  RETURNING id, email, display_name, created_at
), s AS (
  INSERT INTO sessions (user_id, token_hash, expires_at, ip, user_agent)
  SELECT u.id, $4, now() + make_interval(secs => $5), $6, $7 FROM u
  RETURNING id, user_id, created_at, last_seen_at, expires_at
), e AS (
  INSERT INTO auth_events (kind, user_id, session_id, ip) SELECT 'register', s.user_id, s.id, $6 FROM s
), d AS (
  INSERT INTO known_devices (user_id, token_hash) SELECT u.id, $8 FROM u WHERE $8::bytea IS NOT NULL
)
SELECT s.id AS session_id, u.id AS user_id, u.email, u.display_name, u.created_at AS user_created_at,
       s.created_at AS session_created_at, s.last_seen_at, s.expires_at
FROM u JOIN s ON s.user_id = u.id`,
  ),

  /**
   * A login's account by email, with the device the caller presented ($2,
   * its token's hash; null: none) when the account knows it and it logged in
   * within $3 seconds.
   */
  findUserForLogin: statement<
    [email: string, deviceHash: Buffer | null, knownDeviceSeconds: number],
    LoginUserRow
  >(
    "find_user_for_login",
    "bulk",
    `
SELECT u.id, u.email, u.display_name, u.password_hash, u.password_nfkc, u.locked_until, u.created_at,
       d.id AS device_id, d.locked_until AS device_locked_until
FROM users u
LEFT JOIN known_devices d ON d.token_hash = $2 AND d.user_id = u.id
  AND d.last_login_at > now() - make_interval(secs => $3)
WHERE u.email = $1`,
  ),

  /**
   * A shared secret by name: $2 is stored when there is none yet. No row
   * only when another instance stored one in the same instant (this
   * statement's snapshot predates it): ask again.
   */
  serviceSecret: statement<[name: string, candidate: Buffer], { secret: Buffer }>(
    "service_secret",
    "bulk",
    `
WITH made AS (
  INSERT INTO service_secrets (name, secret) VALUES ($1, $2)
  ON CONFLICT (name) DO NOTHING
  RETURNING secret
)
SELECT secret FROM made
UNION ALL
SELECT secret FROM service_secrets WHERE name = $1
LIMIT 1`,
  ),

  findUserById: statement<[userId: string], UserRow>(
    "find_user_by_id",
    "bulk",
    `
SELECT id, email, display_name, password_hash, password_nfkc, locked_until, created_at
FROM users WHERE id = $1`,
  ),

  /**
   * Opens a session after a good password. The user row is written only when
   * something changes (failures to clear, a lock to lift, a new hash): a
   * clean login writes no user row, so concurrent logins to one account do
   * not queue on its row lock, and a login storm writes sessions and events
   * only. The device: a known one ($7) is cleared of failures and noted as
   * come back (its row written at most daily otherwise); a new one ($8) is
   * added, and the account keeps $9 devices, those that came back first,
   * then the most recent.
   */
  loginSucceeded: statement<
    [
      userId: string,
      tokenHash: Buffer,
      ttlSeconds: number,
      ip: Ip,
      ua: UserAgent,
      newPasswordHash: string | null,
      knownDeviceId: string | null,
      newDeviceHash: Buffer | null,
      devicesPerAccount: number,
    ],
    SessionUserRow
  >(
    "login_succeeded",
    "bulk",
    `
WITH u AS (
  SELECT id, email, display_name, created_at FROM users WHERE id = $1
), cleared AS (
  UPDATE users SET
    failed_logins = CASE WHEN $7::uuid IS NULL THEN 0 ELSE failed_logins END,
    lockouts = CASE WHEN $7::uuid IS NULL THEN 0 ELSE lockouts END,
    locked_until = CASE WHEN $7::uuid IS NULL THEN NULL ELSE locked_until END,
    password_hash = coalesce($6, password_hash),
    password_nfkc = password_nfkc OR $6::text IS NOT NULL
  WHERE id = $1
    AND (($7::uuid IS NULL AND (failed_logins <> 0 OR lockouts <> 0 OR locked_until IS NOT NULL))
         OR $6::text IS NOT NULL)
), seen AS (
  UPDATE known_devices SET failed_logins = 0, lockouts = 0, locked_until = NULL, last_login_at = now(),
                           returned_at = coalesce(returned_at, now())
  WHERE id = $7 AND (failed_logins <> 0 OR lockouts <> 0 OR locked_until IS NOT NULL
                     OR returned_at IS NULL OR last_login_at < now() - interval '1 day')
), added AS (
  INSERT INTO known_devices (user_id, token_hash) SELECT u.id, $8 FROM u WHERE $8::bytea IS NOT NULL
), trimmed AS (
  DELETE FROM known_devices WHERE id IN (
    SELECT id FROM known_devices WHERE user_id = $1 AND $8::bytea IS NOT NULL
    ORDER BY returned_at IS NOT NULL DESC, last_login_at DESC, created_at DESC OFFSET $9::int - 1)
), s AS (
  INSERT INTO sessions (user_id, token_hash, expires_at, ip, user_agent)
  SELECT u.id, $2, now() + make_interval(secs => $3), $4, $5 FROM u
  RETURNING id, user_id, created_at, last_seen_at, expires_at
), e AS (
  INSERT INTO auth_events (kind, user_id, session_id, ip) SELECT 'login_success', s.user_id, s.id, $4 FROM s
)
SELECT s.id AS session_id, u.id AS user_id, u.email, u.display_name, u.created_at AS user_created_at,
       s.created_at AS session_created_at, s.last_seen_at, s.expires_at
FROM u JOIN s ON s.user_id = u.id`,
  ),

  /**
   * Counts a wrong password (at login, or `detail` says where); the failure
   * that reaches the limit locks the account for base x 2^lockouts seconds
   * (capped) and records a lockout.
   */
  loginFailed: statement<
    [userId: string, ...lockout: LockoutParams, ip: Ip, detail: string | null],
    { just_locked: boolean }
  >(
    "login_failed",
    "bulk",
    `
WITH u AS (${countFailure("users")}
), e AS (${failureEvents("u", "u.id", "$5", "$6::jsonb")}
)
SELECT just_locked FROM u`,
  ),

  /**
   * Counts a wrong password from a device the account knows ($1), on the
   * device: its own lockout, as the account's (loginFailed) for everyone
   * else. Both events name the device.
   */
  deviceLoginFailed: statement<
    [deviceId: string, ...lockout: LockoutParams, ip: Ip, userId: string],
    { just_locked: boolean }
  >(
    "device_login_failed",
    "bulk",
    `
WITH d AS (${countFailure("known_devices")}
), e AS (${failureEvents("d", "$6", "$5", "jsonb_build_object('device', d.id)")}
)
SELECT just_locked FROM d`,
  ),

  /** A failed login for an email no account has. */
  loginFailedUnknown: statement<[ip: Ip], never>(
    "login_failed_unknown",
    "bulk",
    `INSERT INTO auth_events (kind, ip, detail) VALUES ('login_failure', $1, '{"reason":"unknown_email"}')`,
  ),

  findSessionByTokenHash: statement<[tokenHash: Buffer], SessionUserRow>(
    "find_session_by_token_hash",
    "interactive",
    `
SELECT s.id AS session_id, u.id AS user_id, u.email, u.display_name, u.created_at AS user_created_at,
       s.created_at AS session_created_at, s.last_seen_at, s.expires_at
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()`,
  ),

  /**
   * Slides a session's expiry, never past its absolute lifetime ($3 seconds
   * after it was opened); written at most once per renew interval per
   * session. No row: the session has ended, by revocation, idleness or age.
   */
  touchSession: statement<
    [sessionId: string, ttlSeconds: number, maxLifetimeSeconds: number],
    { last_seen_at: Date; expires_at: Date }
  >(
    "touch_session",
    "interactive",
    `
UPDATE sessions
SET last_seen_at = now(),
    expires_at = LEAST(now() + make_interval(secs => $2), created_at + make_interval(secs => $3))
WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()
  AND created_at + make_interval(secs => $3) > now()
RETURNING last_seen_at, expires_at`,
  ),

  listSessions: statement<[userId: string], SessionRow>(
    "list_sessions",
    "interactive",
    `
SELECT id, created_at, last_seen_at, expires_at, host(ip) AS ip, user_agent
FROM sessions
WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
ORDER BY last_seen_at DESC, created_at DESC
LIMIT 100`,
  ),

  /** Revokes one of a user's sessions and tells every instance to drop it from its cache. */
  revokeSession: statement<
    [sessionId: string, userId: string, kind: "logout" | "revoke", ip: Ip],
    RevokedRow
  >(
    "revoke_session",
    "interactive",
    `
WITH r AS (
  UPDATE sessions SET revoked_at = now()
  WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
  RETURNING id, token_hash
), e AS (
  INSERT INTO auth_events (kind, user_id, session_id, ip) SELECT $3, $2, r.id, $4 FROM r
)
SELECT r.id, encode(r.token_hash, 'hex') AS token_hash,
       pg_notify('spillway_session_revoked', encode(r.token_hash, 'hex')) AS notified
FROM r`,
  ),

  /** Revokes all of a user's sessions except one. */
  revokeOtherSessions: statement<[userId: string, keepSessionId: string, ip: Ip], RevokedRow>(
    "revoke_other_sessions",
    "interactive",
    `
WITH r AS (
  UPDATE sessions SET revoked_at = now()
  WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL
  RETURNING id, token_hash
), e AS (
  INSERT INTO auth_events (kind, user_id, session_id, ip) SELECT 'revoke', $1, r.id, $3 FROM r
)
SELECT r.id, encode(r.token_hash, 'hex') AS token_hash,
       pg_notify('spillway_session_revoked', encode(r.token_hash, 'hex')) AS notified
FROM r`,
  ),

  /**
   * Replaces the password hash if it is still the one the current password
   * was checked against, revokes every session of the user (the caller's
   * too: a password change renews the session) and opens a new one, and
   * forgets every known device but the caller's ($8), in one statement. No
   * row: the hash changed in between.
   */
  changePassword: statement<
    [
      userId: string,
      checkedHash: string,
      newHash: string,
      tokenHash: Buffer,
      ttlSeconds: number,
      ip: Ip,
      ua: UserAgent,
      keepDeviceHash: Buffer | null,
    ],
    SessionUserRow & { revoked: string[] }
  >(
    "change_password",
    "bulk",
    `
WITH u AS (
  UPDATE users SET password_hash = $3, password_nfkc = true,
                   failed_logins = 0, lockouts = 0, locked_until = NULL
  WHERE id = $1 AND password_hash = $2
  RETURNING id, email, display_name, created_at
), forgotten AS (
  DELETE FROM known_devices WHERE user_id = (SELECT id FROM u) AND token_hash IS DISTINCT FROM $8
), r AS (
  UPDATE sessions SET revoked_at = now()
  WHERE user_id = (SELECT id FROM u) AND revoked_at IS NULL
  RETURNING id, token_hash
), s AS (
  INSERT INTO sessions (user_id, token_hash, expires_at, ip, user_agent)
  SELECT u.id, $4, now() + make_interval(secs => $5), $6, $7 FROM u
  RETURNING id, user_id, created_at, last_seen_at, expires_at
), e AS (
  INSERT INTO auth_events (kind, user_id, session_id, ip)
  SELECT 'password_change', s.user_id, s.id, $6 FROM s
  UNION ALL
  SELECT 'revoke', $1, r.id, $6 FROM r
), n AS (
  SELECT array_agg(encode(r.token_hash, 'hex')) AS hashes,
         count(pg_notify('spillway_session_revoked', encode(r.token_hash, 'hex'))) AS notified
  FROM r
)
SELECT s.id AS session_id, u.id AS user_id, u.email, u.display_name, u.created_at AS user_created_at,
       s.created_at AS session_created_at, s.last_seen_at, s.expires_at,
       coalesce(n.hashes, '{}') AS revoked
FROM u JOIN s ON s.user_id = u.id CROSS JOIN n`,
  ),

  /**
   * Deletes up to $2 sessions that ended (expired or revoked) more than $1
   * seconds ago, oldest first.
   */
  purgeEndedSessions: statement<[retentionSeconds: number, batch: number], { purged: number }>(
    "purge_ended_sessions",
    "bulk",
    purgeOldest("sessions", "ended_at"),
  ),

  /**
   * Deletes up to $2 known devices that last logged in more than $1 seconds
   * ago (no longer known: findUserForLogin skips them), oldest first.
   */
  purgeKnownDevices: statement<[retentionSeconds: number, batch: number], { purged: number }>(
    "purge_known_devices",
    "bulk",
    purgeOldest("known_devices", "last_login_at"),
  ),

  /**
   * Of the $2 oldest auth events, deletes those older than $1 seconds,
   * through migration 6's function (the only way past the table's
   * append-only trigger). Fewer than $2 deleted: none older is left.
   */
  purgeAuthEvents: statement<[retentionSeconds: number, batch: number], { purged: number }>(
    "purge_auth_events",
    "bulk",
    "SELECT purge_auth_events($1, $2) AS purged",
  ),
} as const;

export const sessionRevokedChannel = "spillway_session_revoked";
