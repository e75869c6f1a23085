import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import FindMyWay, { type HTTPMethod } from "find-my-way";
import { SpillwayError } from "../errors/index.js";

/** Which methods a path takes, from the routes noted by `noteRoutes`. */
export type RouteTable = (path: string) => HTTPMethod[];

/**
 * Notes every route of `app` as it is added (with its prefix, and the HEAD
 * routes Fastify adds for GET) in a router of the kind Fastify's own is, so
 * a path matches here as it would there. Call on the root before any route
 * is added.
 */
export function noteRoutes(app: FastifyInstance): RouteTable {
  const router = FindMyWay();
  const methods = new Set<HTTPMethod>();
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat() as HTTPMethod[]) {
      router.on(method, route.url, () => {});
      methods.add(method);
    }
  });
  return (path) =>
    // Only a path names a resource (find-my-way would match `*` to `/`).
    path.startsWith("/") ? [...methods].filter((method) => router.find(method, path) !== null) : [];
}

/**
 * Why no route matched the request: a path that exists under other methods
 * is 405 REQUEST_METHOD_NOT_ALLOWED, with the Allow header RFC 9110 requires
 * set on `reply`; any other path 404 REQUEST_NOT_FOUND. For a not-found
 * handler, which answers it in its context's way.
 */
export function unmatchedRoute(
  routes: RouteTable,
  request: FastifyRequest,
  reply: FastifyReply,
): SpillwayError {
  const allowed = routes(request.url.split("?", 1)[0] ?? "");
  if (allowed.length === 0) return new SpillwayError("REQUEST_NOT_FOUND");
  reply.header("allow", allowed.sort().join(", "));
  return new SpillwayError("REQUEST_METHOD_NOT_ALLOWED");
}
