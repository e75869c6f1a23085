import type { FastifyInstance } from "fastify";
import { sendError } from "./error-response.js";

export interface HealthDeps {
  /** Resolves when the service can serve; rejects with the reason otherwise. */
  ready: () => Promise<void>;
}

/** Liveness and readiness for load balancers and orchestrators. */
export async function healthRoutes(app: FastifyInstance, { ready }: HealthDeps): Promise<void> {
  app.addHook("onSend", async (_request, reply) => {
    reply.header("cache-control", "no-store");
  });
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
