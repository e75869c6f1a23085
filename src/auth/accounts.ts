import { type Database, statements, type UserRow } from "../db/index.js";
import { SpillwayError } from "../errors/index.js";
import { type Clock, systemClock } from "../util/index.js";
import { normaliseEmail } from "./email.js";
import type { InFlight } from "./in-flight.js";
import type { IpThrottle } from "./ip-throttle.js";
import type { HashTicket, PasswordHasher } from "./password-hasher.js";
import { normalisePassword, type PasswordPolicy } from "./password-policy.js";
import type { SessionCache } from "./session-cache.js";
import { hashSessionToken, newSessionToken } from "./session-token.js";
import {
  type Authenticated,
  type IssuedSession,
  newSessionSeconds,
  type RequestContext,
  type SessionsConfig,
  toAuthenticated,
} from "./sessions.js";

export interface AccountsConfig extends SessionsConfig {
  loginMaxFailures: number;
  lockoutBaseSeconds: number;
  lockoutMaxSeconds: number;
}

export interface AccountsDeps {
  db: Database;
  hasher: PasswordHasher;
  policy: PasswordPolicy;
  /** Evicted from at a password change, as the sessions it ends are revoked. */
  cache: SessionCache;
  inFlight: InFlight;
  throttle: IpThrottle | undefined;
  clock?: Clock;
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

/** Registration, login and password change: the credentials side of the API and the pages. */
export class Accounts {
  readonly #config: AccountsConfig;
  readonly #deps: AccountsDeps;
  readonly #clock: Clock;

  constructor(config: AccountsConfig, deps: AccountsDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
  }

  #tracked<T>(operation: () => Promise<T>): Promise<T> {
    return this.#deps.inFlight.track(operation);
  }

  register(input: RegisterInput, ctx: RequestContext): Promise<IssuedSession> {
    return this.#tracked(() => this.#register(input, ctx));
  }

  async #register(input: RegisterInput, ctx: RequestContext): Promise<IssuedSession> {
    this.#deps.throttle?.take(ctx.ip);
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
        newSessionSeconds(this.#config),
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
    this.#deps.throttle?.take(ctx.ip);
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
      newSessionSeconds(this.#config),
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
    this.#deps.throttle?.take(ctx.ip);
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
        newSessionSeconds(this.#config),
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
