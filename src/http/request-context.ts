import type { FastifyRequest } from "fastify";
import type { RequestContext } from "../auth/index.js";
import type { Config } from "../config/index.js";
import { deviceCookieName } from "./session-cookie.js";

/** The caller's address (behind a trusted proxy, the one it names); null when unknown. */
export function clientIp(request: FastifyRequest): string | null {
  return request.ip || null;
}

/** The caller's address and agent, for throttling and the event record. */
export function requestContext(request: FastifyRequest): RequestContext {
  const userAgent = request.headers["user-agent"];
  return { ip: clientIp(request), userAgent: typeof userAgent === "string" ? userAgent : null };
}

/** A login's, registration's or password change's context: also the device cookie, when sent. */
export function credentialsContext(
  request: FastifyRequest,
  config: Pick<Config, "cookieSecure">,
): RequestContext {
  return { ...requestContext(request), deviceToken: request.cookies[deviceCookieName(config)] };
}

/**
 * The session token of a request: `Authorization: Bearer` first, else the
 * session cookie. Undefined when there is none.
 */
export function sessionToken(request: FastifyRequest, cookieName: string): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1] ?? "";
  }
  return request.cookies[cookieName];
}
