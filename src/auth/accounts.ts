import { type Database, type SessionUserRow, statements, type UserRow } from "../db/index.js";
import { SpillwayError } from "../errors/index.js";
import { type Clock, systemClock } from "../util/index.js";
import { normaliseEmail } from "./email.js";
import type { IpThrottle } from "./ip-throttle.js";
import type { HashTicket, PasswordHasher } from "./password-hasher.js";
import { normalisePassword, type PasswordPolicy } from "./password-policy.js";
import type { CachedSession, SessionCache } from "./session-cache.js";
import { hashSessionToken, isSessionTokenShape, newSessionToken } from "./session-token.js";

export interface AccountsConfig {
  sessionTtlSeconds: number;
  sessionRenewAfterSeconds: number;
  sessionMaxLifetimeSeconds: number;
  loginMaxFailures: number;
  lockoutBaseSeconds: number;
  lockoutMaxSeconds: number;
}

export interface AccountsDeps {
  db: Database;
  hasher: PasswordHasher;
  policy: PasswordPolicy;
  cache: SessionCache;
  throttle: IpThrottle | undefined;
  /** Per-IP bucket of session lookups that find nothing (made-up tokens). */
  lookupThrottle?: IpThrottle | undefined;
  clock?: Clock;
}

/** Who is asking: used for throttling and the event record. */
export interface RequestContext {
  ip: string | null;
  userAgent: string | null;
  signal?: AbortSignal;
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
}

export interface SessionListing extends SessionView {
  current: boolean;
  ip: string | null;
  userAgent: string | null;
}

export interface RegisterInput {
  email: string;
  password: string;
  displayName?: string | null | undefined;
}

export interface LoginInput {
  email: string;
  password: string;
}

export interface PasswordChangeInput {
  currentPassword: string;
  newPassword: string;
}

const uniqueViolation = "23505";
const displayNameMax = 100;
const userAgentMax = 512;

/** Registration, login and sessions: the accounts service behind the API and the pages. */
export class Accounts {
  readonly #config: AccountsConfig;
  readonly #deps: AccountsDeps;
  readonly #clock: Clock;
  #inFlight = 0;
  #idle: (() => void)[] = [];

  constructor(config: AccountsConfig, deps: AccountsDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
  }

  /** A new session's lifetime: the idle lifetime, unless the absolute one is shorter. */
  get #newSessionSeconds(): number {
    return Math.min(this.#config.sessionTtlSeconds, this.#config.sessionMaxLifetimeSeconds);
  }

  /** Operations still running (a client that hung up does not stop its operation). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Resolves once no operation is running: shutdown waits on it before closing the pool. */
  drain(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #tracked<T>(operation: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      return await operation();
    } finally {
      if (--this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  register(input: RegisterInput, ctx: RequestContext): Promise<IssuedSession> {
    return this.#tracked(() => this.#register(input, ctx));
  }

  async #register(input: RegisterInput, ctx: RequestContext): Promise<IssuedSession> {
    this.#deps.throttle?.take(ctx.ip ?? "unknown");
    const email = normaliseEmail(input.email);
    const displayName = normaliseDisplayName(input.displayName);
    const password = normalisePassword(input.password);
    // Admitted (or refused) before the policy's milliseconds of CPU are spent.
    const ticket = this.#deps.hasher.admit();
    try {
      await this.#deps.policy.check(password, accountWords(email, displayName));
    } catch (err) {
      ticket.release();
      throw err;
    }
    const passwordHash = await ticket.hash(password, ctx.signal);
    const token = newSessionToken();
    try {
      const row = await this.#deps.db.first(statements.registerUser, [
        email,
        displayName,
        passwordHash,
        hashSessionToken(token),
        this.#newSessionSeconds,
        ctx.ip,
        clip(ctx.userAgent),
      ]);
      return { token, ...toAuthenticated(mustExist(row)) };
    } catch (err) {
      if ((err as { code?: unknown }).code === uniqueViolation) {
        throw new SpillwayError("AUTH_EMAIL_TAKEN", { cause: err });
      }
      throw err;
    }
  }

  /**
   * Unknown email and wrong password answer alike (AUTH_INVALID_CREDENTIALS)
   * and take alike: an unknown email is verified against a dummy hash.
   */
  login(input: LoginInput, ctx: RequestContext): Promise<IssuedSession> {
    return this.#tracked(() => this.#login(input, ctx));
  }

  async #login(input: LoginInput, ctx: RequestContext): Promise<IssuedSession> {
    this.#deps.throttle?.take(ctx.ip ?? "unknown");
    // Admitted (or refused) before the email lookup, every login alike: a
    // refusal says nothing about the email, and an admitted login is not
    // refused after its lookup.
    const ticket = this.#deps.hasher.admit();
    try {
      return await this.#verifiedLogin(input, ctx, ticket);
    } finally {
      ticket.release();
    }
  }

  async #verifiedLogin(
    input: LoginInput,
    ctx: RequestContext,
    ticket: HashTicket,
  ): Promise<IssuedSession> {
    const { db, hasher } = this.#deps;
    const password = normalisePassword(input.password);
    let email: string;
    try {
      email = normaliseEmail(input.email);
    } catch {
      await ticket.verifyDummy(password, ctx.signal);
      throw new SpillwayError("AUTH_INVALID_CREDENTIALS");
    }
    const user = await db.first(statements.findUserByEmail, [email]);
    if (!user) {
      await ticket.verifyDummy(password, ctx.signal);
      await db.rows(statements.loginFailedUnknown, [ctx.ip]);
      throw new SpillwayError("AUTH_INVALID_CREDENTIALS");
    }
    await this.#checkPassword(user, password, input.password, ticket, ctx, {
      code: "AUTH_INVALID_CREDENTIALS",
      detail: null,
    });
    const newHash =
      !user.password_nfkc || hasher.needsRehash(user.password_hash)
        ? await hasher.hash(password, ctx.signal).catch(() => null)
        : null;
    const token = newSessionToken();
    const row = await db.first(statements.loginSucceeded, [
      user.id,
      hashSessionToken(token),
      this.#newSessionSeconds,
      ctx.ip,
      clip(ctx.userAgent),
      newHash,
    ]);
    return { token, ...toAuthenticated(mustExist(row)) };
  }

  /**
   * Replaces the caller's password after checking the current one. Every
   * session of the account ends, the caller's too, and a new one is issued:
   * whoever held a session (or the old token) is out. A wrong current
   * password counts towards the account's lockout, as at login.
   */
  changePassword(
    auth: Authenticated,
    input: PasswordChangeInput,
    ctx: RequestContext,
  ): Promise<IssuedSession> {
    return this.#tracked(() => this.#changePassword(auth, input, ctx));
  }

  async #changePassword(
    auth: Authenticated,
    input: PasswordChangeInput,
    ctx: RequestContext,
  ): Promise<IssuedSession> {
    const { db, hasher, policy, cache } = this.#deps;
    this.#deps.throttle?.take(ctx.ip ?? "unknown");
    const { email, displayName } = auth.user;
    const current = normalisePassword(input.currentPassword);
    const next = normalisePassword(input.newPassword);
    const ticket = hasher.admit();
    try {
      await policy.check(next, accountWords(email, displayName));
      const user = await db.first(statements.findUserById, [auth.user.id]);
      if (!user) throw new SpillwayError("AUTH_SESSION_INVALID");
      await this.#checkPassword(user, current, input.currentPassword, ticket, ctx, {
        code: "AUTH_PASSWORD_INCORRECT",
        detail: '{"reason":"password_change"}',
      });
      const newHash = await hasher.hash(next, ctx.signal);
      const token = newSessionToken();
      const row = await db.first(statements.changePassword, [
        user.id,
        user.password_hash,
        newHash,
        hashSessionToken(token),
        this.#newSessionSeconds,
        ctx.ip,
        clip(ctx.userAgent),
      ]);
      // Changed by another request since it was read: the password just
      // checked is no longer the account's.
      if (!row) throw new SpillwayError("AUTH_PASSWORD_INCORRECT");
      // Evicted here too, not only on the notification: once this returns,
      // this instance never accepts an old session again.
      for (const hash of row.revoked) cache.evict(hash);
      return { token, ...toAuthenticated(row) };
    } finally {
      ticket.release();
    }
  }

  /**
   * A login's or a password change's check of the account's password:
   * refused while the account is locked; a wrong password counts towards the
   * lockout (recorded with `detail`) and throws `code`.
   */
  async #checkPassword(
    user: UserRow,
    normalised: string,
    asTyped: string,
    ticket: HashTicket,
    ctx: RequestContext,
    wrong: { code: "AUTH_INVALID_CREDENTIALS" | "AUTH_PASSWORD_INCORRECT"; detail: string | null },
  ): Promise<void> {
    const lockedForMs = (user.locked_until?.getTime() ?? 0) - this.#clock.now();
    if (lockedForMs > 0) throw lockedOut(lockedForMs);
    // A hash made before passwords were normalised is of the password as typed.
    const password = user.password_nfkc ? normalised : asTyped;
    if (await ticket.verify(user.password_hash, password, ctx.signal)) return;
    const { loginMaxFailures, lockoutBaseSeconds, lockoutMaxSeconds } = this.#config;
    await this.#deps.db.rows(statements.loginFailed, [
      user.id,
      loginMaxFailures,
      lockoutBaseSeconds,
      lockoutMaxSeconds,
      ctx.ip,
      wrong.detail,
    ]);
    throw new SpillwayError(wrong.code);
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
    const tokenHash = hashSessionToken(token);
    const key = tokenHash.toString("hex");
    const now = this.#clock.now();
    let session = cache.get(key);
    if (!session && cache.knownInvalid(key)) throw new SpillwayError("AUTH_SESSION_INVALID");
    if (!session || session.expiresAt.getTime() <= now) {
      const row = await this.#lookUp(tokenHash, ip);
      if (!row) {
        cache.evict(key);
        throw new SpillwayError("AUTH_SESSION_INVALID");
      }
      session = fromRow(row);
    }
    if (now - session.lastSeenAt.getTime() >= this.#config.sessionRenewAfterSeconds * 1000) {
      const renewed = await db.first(statements.touchSession, [
        session.sessionId,
        this.#config.sessionTtlSeconds,
        this.#config.sessionMaxLifetimeSeconds,
      ]);
      if (!renewed) {
        cache.evict(key);
        throw new SpillwayError("AUTH_SESSION_INVALID");
      }
      session = { ...session, lastSeenAt: renewed.last_seen_at, expiresAt: renewed.expires_at };
      cache.set(key, session);
      return { ...toAuthenticated(session), renewed: true };
    }
    cache.set(key, session);
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
    const address = ip ?? "unknown";
    throttle?.take(address);
    let found = true;
    try {
      const row = await this.#deps.db.first(statements.findSessionByTokenHash, [tokenHash]);
      found = row !== undefined;
      return row;
    } finally {
      if (found) throttle?.refund(address);
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

function normaliseDisplayName(input: string | null | undefined): string | null {
  if (input === undefined || input === null) return null;
  const name = input.normalize("NFC").trim();
  if (name === "") return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point
  if ([...name].length > displayNameMax || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new SpillwayError("REQUEST_INVALID", {
      message: `displayName must be at most ${displayNameMax} printable characters`,
      details: [{ field: "displayName" }],
    });
  }
  return name;
}

/** What a password must not be guessable from: the account's own email and name. */
function accountWords(email: string, displayName: string | null): string[] {
  return [email, email.split("@")[0] ?? "", ...(displayName ? [displayName] : [])];
}

function clip(userAgent: string | null): string | null {
  return userAgent === null ? null : userAgent.slice(0, userAgentMax);
}

function lockedOut(lockedForMs: number): SpillwayError {
  return new SpillwayError("AUTH_RATE_LIMITED", {
    retryAfterSeconds: Math.max(1, Math.ceil(lockedForMs / 1000)),
  });
}

function mustExist<T>(row: T | undefined): T {
  if (row === undefined)
    throw new SpillwayError("INTERNAL", { message: "statement returned no row" });
  return row;
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

function toAuthenticated(s: CachedSession | SessionUserRow): Authenticated {
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
