import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { type Database, statements } from "../db/index.js";

const tokenShape = /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/;
const secretName = "device_token";

/**
 * Device tokens bound to the account they were issued for: 32 random bytes
 * and an HMAC-SHA256 (16 bytes) of them with the account's email, under a
 * secret every instance shares. A token that was not issued for an email is
 * told apart without the database, so a crowd sending made-up or borrowed
 * tokens costs no lookup.
 */
export class DeviceTokens {
  readonly #secret: Buffer;

  constructor(secret: Buffer) {
    if (secret.length < 32) throw new Error("device token secret must be at least 32 bytes");
    this.#secret = secret;
  }

  /** A new token for a device of the account with this (normalised) email. */
  issue(email: string): string {
    const nonce = randomBytes(32).toString("base64url");
    return `${nonce}.${this.#mac(email, nonce).toString("base64url")}`;
  }

  /** True when `token` was issued by this service for the account with this email. */
  validFor(token: string, email: string): boolean {
    if (!tokenShape.test(token)) return false;
    const [nonce = "", mac = ""] = token.split(".");
    return timingSafeEqual(Buffer.from(mac, "base64url"), this.#mac(email, nonce));
  }

  #mac(email: string, nonce: string): Buffer {
    return createHmac("sha256", this.#secret).update(`${email}\n${nonce}`).digest().subarray(0, 16);
  }
}

/**
 * The device tokens' secret, made by the first instance to start on a
 * database and read by every other (`service_secrets`).
 */
export async function loadDeviceTokens(db: Database): Promise<DeviceTokens> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const row = await db.first(statements.serviceSecret, [secretName, randomBytes(32)]);
    // Empty only when another instance made it in the same instant: read again.
    if (row) return new DeviceTokens(row.secret);
  }
  throw new Error("device token secret: neither made nor found");
}
