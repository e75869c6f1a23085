import { isIPv4 } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import { SpillwayError } from "../../errors/index.js";
import { apiHeaders, useApiHeaders } from "../api-headers.js";
import { answerClientErrors, answerFrameworkErrors, sendError } from "../error-response.js";
import { noteRoutes, unmatchedRoute } from "../unmatched-route.js";

export interface OpsServerDeps {
  /** The Prometheus exposition text, read on each scrape. */
  metrics: () => Promise<string>;
  contentType: string;
  /** The address it listens on: on a loopback one, it answers only loopback host names. */
  host: string;
}

/** 127.0.0.0/8, ::1 and localhost: names that can only mean this machine. */
function isLoopback(hostname: string): boolean {
  const name = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (name === "localhost" || name === "::1") return true;
  return isIPv4(name) && name.startsWith("127.");
}

/** The host name of a Host header (without its port); undefined when it is not one. */
function hostnameOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  try {
    return new URL(`http://${header}/`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * The operators' listener: `/metrics` for Prometheus. It is a separate
 * server on its own address (loopback by default), never a route of the
 * public one, so no proxy rule or forgotten path can expose it.
 */
export async function createOpsServer({
  metrics,
  contentType,
  host,
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
  if (isLoopback(host)) {
    // A web page can rebind its own name to 127.0.0.1 and have a browser on
    // this machine read the listener; its requests still carry that name.
    app.addHook("onRequest", async (request) => {
      const name = hostnameOf(request.headers.host);
      if (name === undefined || !isLoopback(name)) throw new SpillwayError("OPS_HOST_REFUSED");
    });
  }
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
