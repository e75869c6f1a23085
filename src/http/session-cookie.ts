import type { FastifyReply } from "fastify";
import type { Config } from "../config/index.js";

type CookieConfig = Pick<Config, "cookieName" | "cookieSecure">;

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
