import { Writable } from "node:stream";
import Fastify, { LogController } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SpillwayError } from "../errors/index.js";
import { sendError } from "./error-response.js";

describe("sendError", () => {
  const logged: { level: number; msg: string }[] = [];
  const app = Fastify({
    logger: {
      level: "info",
      stream: new Writable({
        write(chunk, _encoding, done) {
          logged.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    },
    logController: new LogController({ disableRequestLogging: true }),
  });
  const failures: Record<string, () => unknown> = {
    "read-only": () => new SpillwayError("DB_READ_ONLY"),
    shed: () => new SpillwayError("POOL_SATURATED", { retryAfterSeconds: 3 }),
    fault: () => new Error("a bug"),
    refused: () => new SpillwayError("AUTH_INVALID_CREDENTIALS"),
  };
  beforeAll(async () => {
    for (const [path, failure] of Object.entries(failures)) {
      app.get(`/${path}`, (request, reply) => sendError(request, reply, failure()));
    }
    await app.ready();
  });
  afterAll(() => app.close());

  it("sends Retry-After on every 503: the error's own, else one second", async () => {
    const readOnly = await app.inject(`/read-only`);
    expect(readOnly.statusCode).toBe(503);
    expect(readOnly.headers["retry-after"]).toBe("1");
    expect((await app.inject(`/shed`)).headers["retry-after"]).toBe("3");
    expect((await app.inject(`/refused`)).headers["retry-after"]).toBeUndefined();
  });

  it("logs a fault of the service as an error, and no 503 or 4xx", async () => {
    logged.length = 0;
    for (const path of Object.keys(failures)) await app.inject(`/${path}`);
    expect(logged).toEqual([expect.objectContaining({ level: 50, msg: "request failed" })]);
  });
});
