import type { FastifyReply } from "fastify";
import type { Config } from "../config/index.js";

type CookieConfig = Pick<Config, "cookieName" | "cookieSecure">;
type DeviceCookieConfig = Pick<Config, "cookieSecure" | "knownDeviceDays">;

/**
 * The session cookie: HttpOnly, SameSite=Lax, Secure when served over https,
 * kept by the browser as long as the session lasts. Max-Age, not Expires, so
 * a client's clock does not matter.
 */
export function setSessionCookie(
  reply: FastifyReply,
  config: CookieConfig,
  token: string,
  expiresAt: Date,
): void {
  reply.setCookie(config.cookieName, token, {
    httpOnly: true,
    sameSite: "lax",
    secure: config.cookieSecure,
    path: "/",
    maxAge: Math.max(0, Math.round((expiresAt.getTime() - Date.now()) / 1000)),
  });
}

export function clearSessionCookie(reply: FastifyReply, config: CookieConfig): void {
  reply.clearCookie(config.cookieName, {
    httpOnly: true,
    sameSite: "lax",
    secure: config.cookieSecure,
    path: "/",
  });
}

/** The device cookie's name: over https, `__Host-` binds it to this host. */
export function deviceCookieName(config: Pick<Config, "cookieSecure">): string {
  return config.cookieSecure ? "__Host-spillway_device" : "spillway_device";
}

/**
 * The device cookie, which makes a browser known to the accounts it logged
 * in to (`knownDeviceDays`): HttpOnly, SameSite=Strict (only the service's
 * own site ever sends it), kept across logouts, good for knownDeviceDays
 * from the last login.
 */
export function setDeviceCookie(
  reply: FastifyReply,
  config: DeviceCookieConfig,
  token: string | undefined,
): void {
  if (token === undefined) return;
  reply.setCookie(deviceCookieName(config), token, {
    httpOnly: true,
    sameSite: "strict",
    secure: config.cookieSecure,
    path: "/",
    maxAge: config.knownDeviceDays * 86_400,
  });
}
