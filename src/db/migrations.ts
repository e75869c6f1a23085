/** One schema change, applied once, in order, inside a transaction. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "accounts",
    sql: `
CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL CHECK (length(email) <= 254),
  display_name text CHECK (length(display_name) <= 100),
  password_hash text NOT NULL,
  failed_logins integer NOT NULL DEFAULT 0,
  lockouts integer NOT NULL DEFAULT 0,
  locked_until timestamptz,
  last_login_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  ip inet,
  user_agent text CHECK (length(user_agent) <= 512)
);
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);
CREATE INDEX sessions_user_active_idx ON sessions (user_id, last_seen_at DESC) WHERE revoked_at IS NULL;

CREATE TABLE auth_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  kind text NOT NULL CHECK (kind IN (
    'register', 'login_success', 'login_failure', 'lockout', 'logout', 'revoke')),
  user_id uuid REFERENCES users (id) ON DELETE SET NULL,
  session_id uuid,
  ip inet,
  detail jsonb
);
CREATE INDEX auth_events_user_at_idx ON auth_events (user_id, at);

-- The event record is append-only: history is never rewritten.
CREATE FUNCTION auth_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'auth_events is append-only';
END $$;
CREATE TRIGGER auth_events_append_only BEFORE UPDATE OR DELETE ON auth_events
  -- Depth 0 only: deleting a user still nulls its events' user_id (GDPR erasure).
  FOR EACH ROW WHEN (pg_trigger_depth() = 0)
  EXECUTE FUNCTION auth_events_append_only();
`,
  },
  {
    version: 2,
    name: "no last_login_at",
    // A login no longer writes the user row unless something changes; the
    // time of each login is in auth_events ('login_success').
    sql: "ALTER TABLE users DROP COLUMN last_login_at;",
  },
  {
    version: 3,
    name: "passwords in NFKC",
    // Passwords are hashed in Unicode NFKC from now on (NIST SP 800-63B
    // 5.1.1.2). A hash made before is of the password as typed: it is
    // verified that way, and replaced by an NFKC one at its next login.
    sql: `
ALTER TABLE users ADD COLUMN password_nfkc boolean NOT NULL DEFAULT false;
ALTER TABLE users ALTER COLUMN password_nfkc SET DEFAULT true;`,
  },
  {
    version: 4,
    name: "ended sessions",
    // When a session stopped being usable: revoked, or else expired (LEAST
    // skips the NULL of a session never revoked). The purge deletes by it.
    sql: `
ALTER TABLE sessions ADD COLUMN ended_at timestamptz
  GENERATED ALWAYS AS (LEAST(expires_at, revoked_at)) STORED;
CREATE INDEX sessions_ended_at_idx ON sessions (ended_at);`,
  },
  {
    version: 5,
    name: "password changes",
    sql: `
ALTER TABLE auth_events DROP CONSTRAINT auth_events_kind_check;
ALTER TABLE auth_events ADD CONSTRAINT auth_events_kind_check CHECK (kind IN (
  'register', 'login_success', 'login_failure', 'lockout', 'logout', 'revoke', 'password_change'));`,
  },
  {
    version: 6,
    name: "auth event retention",
    // The record stays append-only for everything but its retention: a
    // delete passes the trigger only inside purge_auth_events, which sets a
    // transaction-local flag around its own DELETE. The flag guards against
    // a statement rewriting history by mistake, not against a role that may
    // drop the trigger anyway.
    //
    // The purge walks the oldest rows by id (events get ids in the order they
    // happen) and deletes those past the retention: a sweep reads at most a
    // batch beyond the last old row, where filtering on `at` first would scan
    // the whole table for old rows once none are left.
    sql: `
CREATE OR REPLACE FUNCTION auth_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('spillway.purging_auth_events', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'auth_events is append-only';
END $$;

CREATE FUNCTION purge_auth_events(retention_seconds double precision, batch integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  purged integer;
BEGIN
  PERFORM set_config('spillway.purging_auth_events', 'on', true);
  WITH oldest AS (
    SELECT id, at FROM auth_events ORDER BY id LIMIT batch FOR UPDATE SKIP LOCKED
  ), gone AS (
    DELETE FROM auth_events e USING oldest o
    WHERE e.id = o.id AND o.at < now() - make_interval(secs => retention_seconds)
    RETURNING 1
  )
  SELECT count(*)::integer INTO purged FROM gone;
  PERFORM set_config('spillway.purging_auth_events', 'off', true);
  RETURN purged;
END $$;`,
  },
  {
    version: 7,
    name: "known devices",
    // A browser that logged in to an account is known to it by a token in a
    // cookie of its own (only its SHA-256 is stored). Its wrong passwords
    // count here, not on the account: failures from everywhere else lock the
    // account for everyone else, never for the devices its owner uses
    // (OWASP's device cookies). last_login_at is kept to within a day; the
    // purge deletes by it.
    sql: `
CREATE TABLE known_devices (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
  failed_logins integer NOT NULL DEFAULT 0,
  lockouts integer NOT NULL DEFAULT 0,
  locked_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX known_devices_token_hash_key ON known_devices (token_hash);
CREATE INDEX known_devices_user_idx ON known_devices (user_id, last_login_at);
CREATE INDEX known_devices_last_login_at_idx ON known_devices (last_login_at);`,
  },
  {
    version: 8,
    name: "returning devices",
    // When a device first came back (a login that sent its token): a
    // browser. A client that keeps no cookies gets a new device at every
    // login and never comes back; the cap on an account's devices drops
    // those first, so they cannot push out the browsers its owner uses.
    sql: "ALTER TABLE known_devices ADD COLUMN returned_at timestamptz;",
  },
  {
    version: 9,
    name: "service secrets",
    // Secrets every instance must share, made by the first to start (see
    // loadDeviceTokens): the key that binds a device token to its account.
    sql: `
CREATE TABLE service_secrets (
  name text PRIMARY KEY,
  secret bytea NOT NULL CHECK (length(secret) >= 32),
  created_at timestamptz NOT NULL DEFAULT now()
);`,
  },
];
