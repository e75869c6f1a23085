import type { FastifyReply } from "fastify";
import type { Config } from "../config/index.js";

type CookieConfig = Pick<Config, "cookieName" | "cookieSecure" | "sessionTtlSeconds">;

/** The session cookie: HttpOnly, SameSite=Lax, Secure when served over https. */
export function setSessionCookie(reply: FastifyReply, config: CookieConfig, token: string): void {
  reply.setCookie(config.cookieName, token, {
    httpOnly: true,
    sameSite: "lax",
    secure: config.cookieSecure,
    path: "/",
    maxAge: config.sessionTtlSeconds,
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
