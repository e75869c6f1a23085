import { hash, randomBytes } from "node:crypto";

const tokenPattern = /^[A-Za-z0-9_-]{43}$/;

/** A new session token: 32 random bytes, base64url (43 characters). */
export function newSessionToken(): string {
  return randomBytes(32).toString("base64url");
}

/** True for strings shaped like a token; anything else is refused before hashing. */
export function isSessionTokenShape(token: string): boolean {
  return tokenPattern.test(token);
}

/** SHA-256 of the token: the only form of it the database ever holds. */
export function hashSessionToken(token: string): Buffer {
  return hash("sha256", token, "buffer");
}

/**
 * The same SHA-256 in hex: the session cache's key, made in one call with no
 * Buffer on the way (a cached session check needs nothing else of it).
 */
export function sessionTokenKey(token: string): string {
  return hash("sha256", token, "hex");
}
