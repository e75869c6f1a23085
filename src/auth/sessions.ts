import { type Database, type SessionUserRow, statements } from "../db/index.js";
import { isSpillwayError, SpillwayError } from "../errors/index.js";
import { type Clock, systemClock } from "../util/index.js";
import type { InFlight } from "./in-flight.js";
import type { IpThrottle } from "./ip-throttle.js";
import type { CachedSession, SessionCache } from "./session-cache.js";
import { isSessionTokenShape, sessionTokenKey } from "./session-token.js";

export interface SessionsConfig {
  sessionTtlSeconds: number;
  sessionRenewAfterSeconds: number;
  sessionMaxLifetimeSeconds: number;
}

export interface SessionsDeps {
  db: Database;
  cache: SessionCache;
  inFlight: InFlight;
  /** Per-IP bucket of session lookups that find nothing (made-up tokens). */
  lookupThrottle?: IpThrottle | undefined;
  clock?: Clock;
}

/** Who is asking: used for throttling and the event record. */
export interface RequestContext {
  ip: string | null;
  userAgent: string | null;
  signal?: AbortSignal;
  /** The caller's device token (its own cookie), where credentials are checked: unchecked, as sent. */
  deviceToken?: string | undefined;
}

export interface UserView {
  id: string;
  email: string;
  displayName: string | null;
  createdAt: Date;
}

export interface SessionView {
  id: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}

export interface Authenticated {
  user: UserView;
  session: SessionView;
  /** True when this check slid the session's expiry: a cookie carrying it should be re-issued. */
  renewed?: boolean;
}

export interface IssuedSession extends Authenticated {
  token: string;
  /**
   * The device token to keep in the caller's device cookie (a new one, or
   * the one it sent, now good for another knownDeviceDays); none when
   * devices are not tracked, or at a password change.
   */
  deviceToken?: string;
}

export interface SessionListing extends SessionView {
  current: boolean;
  ip: string | null;
  userAgent: string | null;
}

/** A new session's lifetime: the idle lifetime, unless the absolute one is shorter. */
export function newSessionSeconds(config: SessionsConfig): number {
  return Math.min(config.sessionTtlSeconds, config.sessionMaxLifetimeSeconds);
}

/** Session checks, listing and revocation: the sessions side of the API and the pages. */
export class Sessions {
  readonly #config: SessionsConfig;
  readonly #deps: SessionsDeps;
  readonly #clock: Clock;

  constructor(config: SessionsConfig, deps: SessionsDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
  }

  #tracked<T>(operation: () => Promise<T>): Promise<T> {
    return this.#deps.inFlight.track(operation);
  }

  /**
   * The hot path: a token to its session, from the cache when it can be
   * trusted. Expiry slides, written to the database at most once per renew
   * interval per session. A lookup that finds nothing is charged to the
   * caller's address: made-up tokens are each new to the cache, and past the
   * bucket they are refused before they reach the database.
   */
  authenticate(token: string, ip: string | null = null): Promise<Authenticated> {
    return this.#tracked(() => this.#authenticate(token, ip));
  }

  async #authenticate(token: string, ip: string | null): Promise<Authenticated> {
    if (!isSessionTokenShape(token)) throw new SpillwayError("AUTH_SESSION_INVALID");
    const { cache, db } = this.#deps;
    const key = sessionTokenKey(token);
    const now = this.#clock.now();
    // A hit is served as cached and not put back: an entry is trusted for
    // the cache's TTL from its read, however often it is used, so even a
    // change that sends no notification (a row deleted by hand) is seen.
    let session = cache.get(key);
    let read = false;
    if (!session && cache.knownInvalid(key)) throw new SpillwayError("AUTH_SESSION_INVALID");
    if (!session || session.expiresAt.getTime() <= now) {
      const row = await this.#lookUp(Buffer.from(key, "hex"), ip);
      if (!row) {
        cache.evict(key);
        throw new SpillwayError("AUTH_SESSION_INVALID");
      }
      session = fromRow(row);
      read = true;
    }
    if (now - session.lastSeenAt.getTime() >= this.#config.sessionRenewAfterSeconds * 1000) {
      const renewed = await db
        .first(statements.touchSession, [
          session.sessionId,
          this.#config.sessionTtlSeconds,
          this.#config.sessionMaxLifetimeSeconds,
        ])
        .catch((err: unknown) => {
          // A database that takes no writes (a replica after a failover)
          // still vouches for the session: it stays valid until it expires,
          // unrenewed, and the next try comes a renew interval later (the
          // cache notes it as seen now), not at every check.
          if (isSpillwayError(err, "DB_READ_ONLY")) return "unrenewed" as const;
          throw err;
        });
      if (renewed === "unrenewed") {
        session = { ...session, lastSeenAt: new Date(now) };
        cache.set(key, session);
        return toAuthenticated(session);
      }
      if (!renewed) {
        cache.evict(key);
        throw new SpillwayError("AUTH_SESSION_INVALID");
      }
      session = { ...session, lastSeenAt: renewed.last_seen_at, expiresAt: renewed.expires_at };
      cache.set(key, session);
      return { ...toAuthenticated(session), renewed: true };
    }
    if (read) cache.set(key, session);
    return toAuthenticated(session);
  }

  /**
   * A session's row by its token's hash. The attempt is taken from the
   * caller's bucket before the query, so lookups in flight at once count too,
   * and given back unless the query found nothing (a query that failed, shed
   * in an overload, is not the caller's doing).
   */
  async #lookUp(tokenHash: Buffer, ip: string | null): Promise<SessionUserRow | undefined> {
    const throttle = this.#deps.lookupThrottle;
    throttle?.take(ip);
    let found = true;
    try {
      const row = await this.#deps.db.first(statements.findSessionByTokenHash, [tokenHash]);
      found = row !== undefined;
      return row;
    } finally {
      if (found) throttle?.refund(ip);
    }
  }

  logout(auth: Authenticated, ctx: RequestContext): Promise<void> {
    return this.#tracked(() => this.#logout(auth, ctx));
  }

  async #logout(auth: Authenticated, ctx: RequestContext): Promise<void> {
    await this.#revoke(auth, auth.session.id, "logout", ctx);
  }

  listSessions(auth: Authenticated): Promise<SessionListing[]> {
    return this.#tracked(() => this.#listSessions(auth));
  }

  async #listSessions(auth: Authenticated): Promise<SessionListing[]> {
    const rows = await this.#deps.db.rows(statements.listSessions, [auth.user.id]);
    return rows.map((row) => ({
      id: row.id,
      createdAt: row.created_at,
      lastSeenAt: row.last_seen_at,
      expiresAt: row.expires_at,
      current: row.id === auth.session.id,
      ip: row.ip,
      userAgent: row.user_agent,
    }));
  }

  /** Revokes one of the caller's sessions (its own included); AUTH_SESSION_NOT_FOUND otherwise. */
  revokeSession(auth: Authenticated, sessionId: string, ctx: RequestContext): Promise<void> {
    return this.#tracked(() => this.#revokeSession(auth, sessionId, ctx));
  }

  async #revokeSession(auth: Authenticated, sessionId: string, ctx: RequestContext): Promise<void> {
    const kind = sessionId === auth.session.id ? "logout" : "revoke";
    if (!(await this.#revoke(auth, sessionId, kind, ctx))) {
      throw new SpillwayError("AUTH_SESSION_NOT_FOUND");
    }
  }

  /** Revokes every session of the caller but the current one; returns how many. */
  revokeOtherSessions(auth: Authenticated, ctx: RequestContext): Promise<number> {
    return this.#tracked(() => this.#revokeOtherSessions(auth, ctx));
  }

  async #revokeOtherSessions(auth: Authenticated, ctx: RequestContext): Promise<number> {
    const rows = await this.#deps.db.rows(statements.revokeOtherSessions, [
      auth.user.id,
      auth.session.id,
      ctx.ip,
    ]);
    for (const row of rows) this.#deps.cache.evict(row.token_hash);
    return rows.length;
  }

  async #revoke(
    auth: Authenticated,
    sessionId: string,
    kind: "logout" | "revoke",
    ctx: RequestContext,
  ): Promise<boolean> {
    const rows = await this.#deps.db.rows(statements.revokeSession, [
      sessionId,
      auth.user.id,
      kind,
      ctx.ip,
    ]);
    // Evict here, not only on the notification: once this returns, this
    // instance never accepts the session again.
    for (const row of rows) this.#deps.cache.evict(row.token_hash);
    return rows.length > 0;
  }
}

function fromRow(row: SessionUserRow): CachedSession {
  return {
    sessionId: row.session_id,
    userId: row.user_id,
    email: row.email,
    displayName: row.display_name,
    userCreatedAt: row.user_created_at,
    sessionCreatedAt: row.session_created_at,
    lastSeenAt: row.last_seen_at,
    expiresAt: row.expires_at,
  };
}

/** The caller's user and session, from the cache's entry or a statement's row. */
export function toAuthenticated(s: CachedSession | SessionUserRow): Authenticated {
  const session = "sessionId" in s ? s : fromRow(s);
  return {
    user: {
      id: session.userId,
      email: session.email,
      displayName: session.displayName,
      createdAt: session.userCreatedAt,
    },
    session: {
      id: session.sessionId,
      createdAt: session.sessionCreatedAt,
      lastSeenAt: session.lastSeenAt,
      expiresAt: session.expiresAt,
    },
  };
}
