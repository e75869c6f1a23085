import type { FastifyInstance } from "fastify";
import FindMyWay, { type HTTPMethod } from "find-my-way";
import type { Config } from "../config/index.js";
import { SpillwayError } from "../errors/index.js";
import { apiHeaders } from "./api-headers.js";
import { sendError } from "./error-response.js";

/**
 * Answers requests no route matches: a path that exists under other methods
 * gets 405 REQUEST_METHOD_NOT_ALLOWED with an Allow header naming them (as
 * RFC 9110 requires), any other path 404 REQUEST_NOT_FOUND. Call before any
 * route is added: the routes are noted as they are added (with their
 * prefixes, and the HEAD routes Fastify adds for GET) in a router of the kind
 * Fastify's own is, so a path matches here as it would there. The answers
 * carry the API's security headers, as every JSON error does.
 */
export function answerUnmatchedRoutes(
  app: FastifyInstance,
  config: Pick<Config, "cookieSecure">,
): void {
  const headers = apiHeaders(config);
  const router = FindMyWay();
  const methods = new Set<HTTPMethod>();
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat() as HTTPMethod[]) {
      router.on(method, route.url, () => {});
      methods.add(method);
    }
  });
  app.setNotFoundHandler((request, reply) => {
    reply.headers(headers);
    const path = request.url.split("?", 1)[0] ?? "";
    // Only a path names a resource (find-my-way would match `*` to `/`).
    const allowed = path.startsWith("/")
      ? [...methods].filter((method) => router.find(method, path) !== null)
      : [];
    if (allowed.length > 0) {
      reply.header("allow", allowed.sort().join(", "));
      return sendError(request, reply, new SpillwayError("REQUEST_METHOD_NOT_ALLOWED"));
    }
    return sendError(request, reply, new SpillwayError("REQUEST_NOT_FOUND"));
  });
}
