import type { FastifyInstance } from "fastify";
import type { Config } from "../config/index.js";

/**
 * Security headers for JSON responses (OWASP REST Security). Pages get
 * helmet's full set instead; a JSON API does not need HTML-oriented headers
 * on its hot path.
 */
export function apiHeaders(config: Pick<Config, "cookieSecure">): Record<string, string> {
  const headers: Record<string, string> = {
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
  };
  if (config.cookieSecure)
    headers["strict-transport-security"] = "max-age=31536000; includeSubDomains";
  return headers;
}

/** Sets `apiHeaders` on every response of `app`'s routes: computed once, set in one hook. */
export function useApiHeaders(app: FastifyInstance, config: Pick<Config, "cookieSecure">): void {
  const headers = apiHeaders(config);
  app.addHook("onRequest", (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
}
