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

export const statements = {
  healthCheck: statement<[], { ok: number }>("health_check", "critical", "SELECT 1 AS ok"),

  /** Creates the user, its first session and the event in one statement: all or nothing. */
  registerUser: statement<
    [
      email: string,
      displayName: string | null,
      passwordHash: string,
      tokenHash: Buffer,
      ttlSeconds: number,
      ip: Ip,
      ua: UserAgent,
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
)
SELECT s.id AS session_id, u.id AS user_id, u.email, u.display_name, u.created_at AS user_created_at,
       s.created_at AS session_created_at, s.last_seen_at, s.expires_at
FROM u JOIN s ON s.user_id = u.id`,
  ),

  findUserByEmail: statement<[email: string], UserRow>(
    "find_user_by_email",
    "bulk",
    `
SELECT id, email, display_name, password_hash, password_nfkc, locked_until, created_at
FROM users WHERE email = $1`,
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
   * only.
   */
  loginSucceeded: statement<
    [
      userId: string,
      tokenHash: Buffer,
      ttlSeconds: number,
      ip: Ip,
      ua: UserAgent,
      newPasswordHash: string | null,
    ],
    SessionUserRow
  >(
    "login_succeeded",
    "bulk",
    `
WITH u AS (
  SELECT id, email, display_name, created_at FROM users WHERE id = $1
), cleared AS (
  UPDATE users SET failed_logins = 0, lockouts = 0, locked_until = NULL,
                   password_hash = coalesce($6, password_hash),
                   password_nfkc = password_nfkc OR $6::text IS NOT NULL
  WHERE id = $1
    AND (failed_logins <> 0 OR lockouts <> 0 OR locked_until IS NOT NULL OR $6::text IS NOT NULL)
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
    [
      userId: string,
      maxFailures: number,
      lockoutBaseSeconds: number,
      lockoutMaxSeconds: number,
      ip: Ip,
      detail: string | null,
    ],
    { locked_until: Date | null; just_locked: boolean }
  >(
    "login_failed",
    "bulk",
    `
WITH u AS (
  UPDATE users SET
    failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
    lockouts = CASE WHEN failed_logins + 1 >= $2 THEN lockouts + 1 ELSE lockouts END,
    locked_until = CASE WHEN failed_logins + 1 >= $2
      THEN now() + make_interval(secs => least($3::float8 * power(2, lockouts), $4::float8))
      ELSE locked_until END
  WHERE id = $1
  RETURNING id, locked_until, (failed_logins = 0 AND locked_until > now()) AS just_locked
), e AS (
  INSERT INTO auth_events (kind, user_id, ip, detail)
  SELECT k, u.id, $5, CASE WHEN k = 'login_failure' THEN $6::jsonb END FROM u,
    unnest(CASE WHEN u.just_locked THEN ARRAY['login_failure', 'lockout'] ELSE ARRAY['login_failure'] END) AS k
)
SELECT locked_until, just_locked FROM u`,
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
   * too: a password change renews the session) and opens a new one, in one
   * statement. No row: the hash changed in between.
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
   * seconds ago, oldest first. Rows another sweep holds are skipped, so
   * instances sweeping at once share the work instead of waiting on it.
   */
  purgeEndedSessions: statement<[retentionSeconds: number, batch: number], { purged: number }>(
    "purge_ended_sessions",
    "bulk",
    `
WITH gone AS (
  DELETE FROM sessions WHERE id IN (
    SELECT id FROM sessions
    WHERE ended_at < now() - make_interval(secs => $1)
    ORDER BY ended_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED)
  RETURNING 1
)
SELECT count(*)::int AS purged FROM gone`,
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
