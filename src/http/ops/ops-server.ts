import Fastify, { type FastifyInstance } from "fastify";
import { SpillwayError } from "../../errors/index.js";
import { apiHeaders, useApiHeaders } from "../api-headers.js";
import { answerClientErrors, answerFrameworkErrors, sendError } from "../error-response.js";
import { noteRoutes, unmatchedRoute } from "../unmatched-route.js";

export interface OpsServerDeps {
  /** The Prometheus exposition text, read on each scrape. */
  metrics: () => Promise<string>;
  contentType: string;
}

/**
 * The operators' listener: `/metrics` for Prometheus. It is a separate
 * server on its own address (loopback by default), never a route of the
 * public one, so no proxy rule or forgotten path can expose it.
 */
export async function createOpsServer({
  metrics,
  contentType,
}: OpsServerDeps): Promise<FastifyInstance> {
  const config = { cookieSecure: false };
  const errorHeaders = apiHeaders(config);
  const app = Fastify({
    logger: false,
    frameworkErrors: answerFrameworkErrors(errorHeaders),
    clientErrorHandler: answerClientErrors(errorHeaders),
  });
  useApiHeaders(app, config);
  app.setErrorHandler((err, request, reply) => sendError(request, reply, err));
  const routes = noteRoutes(app);
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, unmatchedRoute(routes, request, reply)),
  );
  app.get("/metrics", async (_request, reply) => {
    let text: string;
    try {
      text = await metrics();
    } catch (cause) {
      // e.g. a cluster worker still starting did not answer the primary in time.
      throw new SpillwayError("METRICS_UNAVAILABLE", { cause, retryAfterSeconds: 1 });
    }
    return reply.type(contentType).send(text);
  });
  await app.ready();
  return app;
}

/** The listener's base URL once it listens. */
export function listeningUrl(app: FastifyInstance, host: string): string {
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
