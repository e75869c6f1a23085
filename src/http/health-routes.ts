import type { FastifyInstance } from "fastify";
import type { Config } from "../config/index.js";
import { useApiHeaders } from "./api-headers.js";
import { sendError } from "./error-response.js";

export interface HealthDeps {
  config: Config;
  /** Resolves when the service can serve; rejects with the reason otherwise. */
  ready: () => Promise<void>;
}

/** Liveness and readiness for load balancers and orchestrators. */
export async function healthRoutes(
  app: FastifyInstance,
  { config, ready }: HealthDeps,
): Promise<void> {
  useApiHeaders(app, config);
  app.get("/healthz", { schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: { hide: true } }, async (request, reply) => {
    try {
      await ready();
      return { status: "ready" };
    } catch (err) {
      return sendError(request, reply, err);
    }
  });
}
