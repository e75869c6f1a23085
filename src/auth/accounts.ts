import {
  type Database,
  type LockoutParams,
  type LoginUserRow,
  statements,
  type UserRow,
} from "../db/index.js";
import { SpillwayError } from "../errors/index.js";
import { type Clock, systemClock } from "../util/index.js";
import type { DeviceTokens } from "./device-token.js";
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
  /** How long a device stays known after its last login; 0: devices are not tracked. */
  knownDeviceDays: number;
}

export interface AccountsDeps {
  db: Database;
  hasher: PasswordHasher;
  policy: PasswordPolicy;
  /** Evicted from at a password change, as the sessions it ends are revoked. */
  cache: SessionCache;
  inFlight: InFlight;
  throttle: IpThrottle | undefined;
  /** Issues device tokens and tells which account one was issued for. */
  deviceTokens: DeviceTokens;
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
/**
 * Known devices kept per account: a login from a new one forgets, past this,
 * first those that never came back (clients that keep no cookies), then
 * the least recent.
 */
const devicesPerAccount = 20;
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
    const deviceToken = this.#tracksDevices ? this.#deps.deviceTokens.issue(email) : undefined;
    try {
      const row = await this.#deps.db.first(statements.registerUser, [
        email,
        displayName,
        passwordHash,
        hashSessionToken(token),
        newSessionSeconds(this.#config),
        ctx.ip,
        clip(ctx.userAgent),
        deviceToken === undefined ? null : hashSessionToken(deviceToken),
      ]);
      return { token, ...withDevice(deviceToken), ...toAuthenticated(mustExist(row)) };
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
    const { hasher } = this.#deps;
    let email: string | undefined;
    try {
      email = normaliseEmail(input.email);
    } catch {
      email = undefined; // no account has it: verified against the dummy hash below
    }
    const sentDevice = email === undefined ? undefined : this.#sentDevice(ctx, email);
    // Admitted (or refused) before the email lookup, every login alike: a
    // refusal says nothing about the email, and an admitted login is not
    // refused after its lookup. But while hashing is saturated, a login with
    // a device token issued for this email holds a place in the priority
    // lane (or is refused at once when that is full too) and is looked up:
    // one whose account knows the device (most likely its owner) keeps the
    // place, ahead of the crowd, and any other gives it back and is admitted
    // as any login would be now (refused, mostly). The lane's bounds also
    // bound these lookups.
    let ticket = sentDevice === undefined ? hasher.admit() : hasher.tryAdmit();
    let place = ticket === undefined ? hasher.admit({ priority: true }) : undefined;
    try {
      const password = normalisePassword(input.password);
      const user = email === undefined ? undefined : await this.#findAccount(email, sentDevice);
      if (place !== undefined && typeof user?.device_id !== "string") {
        place.release();
        place = undefined;
      }
      ticket ??= place ?? hasher.admit();
      if (!user) {
        await ticket.verifyDummy(password, ctx.signal);
        if (email !== undefined) await this.#deps.db.rows(statements.loginFailedUnknown, [ctx.ip]);
        throw new SpillwayError("AUTH_INVALID_CREDENTIALS");
      }
      const typed = { normalised: password, asTyped: input.password };
      return await this.#verifiedLogin(user, typed, ticket, ctx, sentDevice);
    } finally {
      ticket?.release();
      place?.release();
    }
  }

  /** A login's account by email, and the device it sent if the account knows it. */
  #findAccount(email: string, sentDevice: string | undefined): Promise<LoginUserRow | undefined> {
    return this.#deps.db.first(statements.findUserForLogin, [
      email,
      sentDevice === undefined ? null : hashSessionToken(sentDevice),
      this.#config.knownDeviceDays * 86_400,
    ]);
  }

  async #verifiedLogin(
    user: LoginUserRow,
    password: { normalised: string; asTyped: string },
    ticket: HashTicket,
    ctx: RequestContext,
    sentDevice: string | undefined,
  ): Promise<IssuedSession> {
    const { db, hasher } = this.#deps;
    // A device the account knows has a failure count and lockout of its own;
    // every other caller shares the account's.
    const deviceId = user.device_id;
    const lockout = this.#lockoutArgs();
    await this.#checkPassword(
      deviceId === null
        ? {
            lockedUntil: user.locked_until,
            countFailure: () =>
              db.rows(statements.loginFailed, [user.id, ...lockout, ctx.ip, null]),
          }
        : {
            lockedUntil: user.device_locked_until,
            countFailure: () =>
              db.rows(statements.deviceLoginFailed, [deviceId, ...lockout, ctx.ip, user.id]),
          },
      user,
      password,
      ticket,
      ctx,
      "AUTH_INVALID_CREDENTIALS",
    );
    const newHash =
      !user.password_nfkc || hasher.needsRehash(user.password_hash)
        ? await hasher.hash(password.normalised, ctx.signal).catch(() => null)
        : null;
    const token = newSessionToken();
    // A known device keeps its token (its cookie's lifetime starts again);
    // any other caller gets a new device, when devices are tracked.
    let deviceToken = sentDevice;
    if (deviceId === null) {
      deviceToken = this.#tracksDevices ? this.#deps.deviceTokens.issue(user.email) : undefined;
    }
    const row = await db.first(statements.loginSucceeded, [
      user.id,
      hashSessionToken(token),
      newSessionSeconds(this.#config),
      ctx.ip,
      clip(ctx.userAgent),
      newHash,
      deviceId,
      deviceId === null && deviceToken !== undefined ? hashSessionToken(deviceToken) : null,
      devicesPerAccount,
    ]);
    return { token, ...withDevice(deviceToken), ...toAuthenticated(mustExist(row)) };
  }

  get #tracksDevices(): boolean {
    return this.#config.knownDeviceDays > 0;
  }

  /**
   * The device token the caller sent, when devices are tracked and it was
   * issued for this email: any other is none, told without the database.
   */
  #sentDevice(ctx: RequestContext, email: string): string | undefined {
    const token = ctx.deviceToken;
    return this.#tracksDevices &&
      token !== undefined &&
      this.#deps.deviceTokens.validFor(token, email)
      ? token
      : undefined;
  }

  #lockoutArgs(): LockoutParams {
    const { loginMaxFailures, lockoutBaseSeconds, lockoutMaxSeconds } = this.#config;
    return [loginMaxFailures, lockoutBaseSeconds, lockoutMaxSeconds];
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
      await this.#checkPassword(
        {
          lockedUntil: user.locked_until,
          countFailure: () =>
            db.rows(statements.loginFailed, [
              user.id,
              ...this.#lockoutArgs(),
              ctx.ip,
              '{"reason":"password_change"}',
            ]),
        },
        user,
        { normalised: current, asTyped: input.currentPassword },
        ticket,
        ctx,
        "AUTH_PASSWORD_INCORRECT",
      );
      const newHash = await hasher.hash(next, ctx.signal);
      const token = newSessionToken();
      // Whoever knew the old password may have made their browser known:
      // only the caller's device stays.
      const keptDevice = this.#sentDevice(ctx, user.email);
      const row = await db.first(statements.changePassword, [
        user.id,
        user.password_hash,
        newHash,
        hashSessionToken(token),
        newSessionSeconds(this.#config),
        ctx.ip,
        clip(ctx.userAgent),
        keptDevice === undefined ? null : hashSessionToken(keptDevice),
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
   * refused while `guard` (the account's lockout, or a known device's) is
   * locked; a wrong password is counted on it and throws `wrongCode`.
   */
  async #checkPassword(
    guard: FailureGuard,
    user: UserRow,
    password: { normalised: string; asTyped: string },
    ticket: HashTicket,
    ctx: RequestContext,
    wrongCode: "AUTH_INVALID_CREDENTIALS" | "AUTH_PASSWORD_INCORRECT",
  ): Promise<void> {
    const lockedForMs = (guard.lockedUntil?.getTime() ?? 0) - this.#clock.now();
    if (lockedForMs > 0) throw lockedOut(lockedForMs);
    // A hash made before passwords were normalised is of the password as typed.
    const candidate = user.password_nfkc ? password.normalised : password.asTyped;
    if (await ticket.verify(user.password_hash, candidate, ctx.signal)) return;
    await guard.countFailure();
    throw new SpillwayError(wrongCode);
  }
}

/** Where a password check's lockout is read from and its failure counted. */
interface FailureGuard {
  lockedUntil: Date | null;
  countFailure: () => Promise<unknown>;
}

function withDevice(deviceToken: string | undefined): { deviceToken?: string } {
  return deviceToken === undefined ? {} : { deviceToken };
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
