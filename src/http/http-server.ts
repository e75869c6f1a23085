import {
  type IncomingMessage,
  type OutgoingHttpHeader,
  type OutgoingHttpHeaders,
  ServerResponse,
} from "node:http";
import cookie from "@fastify/cookie";
import csrf from "@fastify/csrf-protection";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyInstance, LogController } from "fastify";
import type { Accounts, Sessions } from "../auth/index.js";
import type { Config } from "../config/index.js";
import type { HttpRequestMetrics } from "../telemetry/index.js";
import { apiRoutes } from "./api/api-routes.js";
import { apiHeaders, useApiHeaders } from "./api-headers.js";
import {
  answerClientErrors,
  answerFrameworkErrors,
  errorCodeOf,
  sendError,
} from "./error-response.js";
import { healthRoutes } from "./health-routes.js";
import { pageRoutes } from "./pages/page-routes.js";
import { noteRoutes } from "./unmatched-route.js";

export interface HttpServerDeps {
  config: Config;
  accounts: Accounts;
  sessions: Sessions;
  ready: () => Promise<void>;
  /** Every answer's method, route, status and duration, observed as it is sent. */
  requestMetrics: HttpRequestMetrics;
}

/** The HTTP face of Spillway: API, pages, health and the OpenAPI document. */
export async function createHttpServer({
  config,
  accounts,
  sessions,
  ready,
  requestMetrics,
}: HttpServerDeps): Promise<FastifyInstance> {
  const errorHeaders = apiHeaders(config);
  let draining = false;
  const app = Fastify({
    // Given to Node's createServer too: Fastify sets it on the server after
    // creation, and on Node 20 a body that never finishes then never times
    // out (only unfinished headers do). Node looks for timed-out requests
    // every connectionsCheckingInterval (30 s by default): a quarter of the
    // timeout answers within 25% of it.
    requestTimeout: config.requestTimeoutMs,
    http: {
      requestTimeout: config.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(30_000, Math.ceil(config.requestTimeoutMs / 4)),
      ServerResponse: closingWhen(() => draining),
    },
    // Both answer before any route's hooks: they set the API's headers themselves.
    frameworkErrors: answerFrameworkErrors(errorHeaders),
    clientErrorHandler: answerClientErrors(errorHeaders),
    logger: {
      level: config.logLevel,
      // Tokens travel in these; they never reach a log line.
      redact: ["req.headers.authorization", "req.headers.cookie", 'res.headers["set-cookie"]'],
    },
    // Per-request log lines cost more than the session check itself; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.trustProxy && [...config.trustProxy],
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: true,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });

  // Before any plugin can add a route.
  const routes = noteRoutes(app);
  await app.register(cookie);
  await app.register(csrf, {
    // Over https the __Host- prefix: a sibling subdomain cannot plant its own
    // secret (and so forge tokens) in a cookie the browser would send here.
    cookieKey: config.cookieSecure ? "__Host-spillway_csrf" : "spillway_csrf",
    // A refused form is a client's error like any other 4xx: at the default
    // level it writes no line, so no client can fill the operators' log.
    logLevel: "debug",
    cookieOpts: {
      httpOnly: true,
      sameSite: "lax",
      secure: config.cookieSecure,
      path: "/",
      signed: false,
    },
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: "Spillway",
        description: "Login and registration that keeps working when a crowd arrives.",
        version: "0.1.0",
      },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer" },
          cookie: { type: "apiKey", in: "cookie", name: config.cookieName },
        },
      },
    },
  });

  app.setErrorHandler((err, request, reply) => sendError(request, reply, err));
  // Every route's answers and the not-found ones (the router's own refusals
  // and the drain's 503s are answered before any hook).
  app.addHook("onResponse", (request, reply, done) => {
    requestMetrics.observe({
      method: request.method,
      route: request.routeOptions.url,
      status: reply.statusCode,
      errorCode: errorCodeOf(reply),
      seconds: reply.elapsedTime / 1000,
    });
    done();
  });
  // From the start of close(): see closingWhen.
  app.addHook("preClose", (done) => {
    draining = true;
    done();
  });

  await app.register(healthRoutes, { config, ready });
  await app.register(apiRoutes, { prefix: "/v1", config, accounts, sessions, routes });
  await app.register(pageRoutes, { config, accounts, sessions, routes });
  await app.register(async (docs) => {
    useApiHeaders(docs, config);
    docs.get("/docs/json", { schema: { hide: true } }, async () => app.swagger());
  });
  await app.ready();
  return app;
}

type Headers = OutgoingHttpHeaders | OutgoingHttpHeader[];

/**
 * Responses that end their connection once `draining()`: a request in flight
 * when the drain begins is answered with `Connection: close`. Answered with
 * keep-alive, its client would send the next request on a connection the
 * drain is about to close, and that request would be reset rather than
 * refused. Checked as each response's head is written, so a request that
 * started before the drain still gets it; one flag per response otherwise.
 */
function closingWhen(draining: () => boolean): typeof ServerResponse {
  return class<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
    override writeHead(status: number, message?: string, headers?: Headers): this;
    override writeHead(status: number, headers?: Headers): this;
    override writeHead(status: number, message?: string | Headers, headers?: Headers): this {
      if (draining()) this.setHeader("connection", "close");
      return typeof message === "string"
        ? super.writeHead(status, message, headers)
        : super.writeHead(status, message);
    }
  };
}
