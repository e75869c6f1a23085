import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import type { FastifyError, FastifyReply, FastifyRequest, FastifyServerOptions } from "fastify";
import { type ErrorCode, errorCatalog, isSpillwayError } from "../errors/index.js";

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  retryAfterSeconds: number | undefined;
}

// Fastify's own errors for malformed requests, by its codes.
const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "REQUEST_TOO_LARGE",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "REQUEST_UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_INVALID_TYPE: "REQUEST_UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_EMPTY_JSON_BODY: "REQUEST_MALFORMED",
  FST_ERR_CTP_INVALID_JSON_BODY: "REQUEST_MALFORMED",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "REQUEST_INVALID",
  FST_ERR_CTP_INVALID_CONTENT_TYPE: "REQUEST_UNSUPPORTED_MEDIA_TYPE",
  FST_CSRF_INVALID_TOKEN: "REQUEST_CSRF_INVALID",
  FST_CSRF_MISSING_SECRET: "REQUEST_CSRF_INVALID",
  // Router errors, handed over through the `frameworkErrors` option.
  FST_ERR_BAD_URL: "REQUEST_URL_INVALID",
  FST_ERR_MAX_PARAM_LENGTH: "REQUEST_URL_TOO_LONG",
  FST_ERR_ASYNC_CONSTRAINT: "REQUEST_INVALID",
};

/**
 * Turns any error into the uniform `{error: {code, message, details?}}` body.
 * Every client mistake gets a 4xx with a stable code; only a fault of the
 * service itself becomes INTERNAL (500).
 */
export function toErrorResponse(err: unknown): ErrorResponse {
  if (isSpillwayError(err)) {
    const body: ErrorBody = { error: { code: err.code, message: err.message } };
    if (err.details !== undefined) body.error.details = err.details;
    return { status: err.status, body, retryAfterSeconds: err.retryAfterSeconds };
  }
  const fe = err as Partial<FastifyError> & { validation?: unknown[] };
  if (Array.isArray(fe.validation)) {
    const details = (
      fe.validation as { instancePath?: string; message?: string; params?: unknown }[]
    ).map((v) => ({ field: fieldName(v), problem: v.message ?? "invalid" }));
    return described("REQUEST_INVALID", details);
  }
  const mapped = fe.code ? fastifyCodes[fe.code] : undefined;
  if (mapped) return described(mapped);
  if (err instanceof SyntaxError && fe.statusCode === 400) return described("REQUEST_MALFORMED");
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    const entry = described("REQUEST_INVALID");
    entry.status = fe.statusCode;
    return entry;
  }
  return described("INTERNAL");
}

function described(code: ErrorCode, details?: unknown): ErrorResponse {
  const entry = errorCatalog[code];
  const body: ErrorBody = { error: { code, message: entry.message } };
  if (details !== undefined) body.error.details = details;
  return { status: entry.status, body, retryAfterSeconds: undefined };
}

function fieldName(v: { instancePath?: string; params?: unknown }): string {
  const missing =
    (v.params as { missingProperty?: string; additionalProperty?: string } | undefined) ?? {};
  const path = (v.instancePath ?? "").replace(/^\//, "").replaceAll("/", ".");
  const extra = missing.missingProperty ?? missing.additionalProperty;
  return [path, extra].filter(Boolean).join(".") || "body";
}

/** The error code of each 5xx answer, for the request metrics (see errorCodeOf). */
const serverErrorCodes = new WeakMap<FastifyReply, ErrorCode>();

/** The error code a 5xx answer was given by prepareErrorReply; undefined for any other. */
export function errorCodeOf(reply: FastifyReply): ErrorCode | undefined {
  return serverErrorCodes.get(reply);
}

/**
 * What every error answer, JSON or page, does beside its body: logs a fault
 * of the service (INTERNAL) as an error, and only that (a 503 shed in a
 * spike is the service working, and one log line each would add to the
 * load), and sends Retry-After: the error's own, else 1 s on any 503.
 */
export function prepareErrorReply(
  request: FastifyRequest,
  reply: FastifyReply,
  err: unknown,
  what: string,
): ErrorResponse {
  const response = toErrorResponse(err);
  if (response.body.error.code === "INTERNAL") request.log.error({ err }, what);
  if (response.status >= 500) serverErrorCodes.set(reply, response.body.error.code);
  const retryAfter = response.retryAfterSeconds ?? (response.status === 503 ? 1 : undefined);
  if (retryAfter !== undefined) reply.header("retry-after", String(retryAfter));
  return response;
}

/** Sends an error as JSON (see prepareErrorReply). */
export function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  err: unknown,
): FastifyReply {
  const response = prepareErrorReply(request, reply, err, "request failed");
  return reply.code(response.status).type("application/json; charset=utf-8").send(response.body);
}

/**
 * Fastify's `frameworkErrors`: the router's own refusals (a URL that is not
 * valid percent-encoding, a path parameter over its length limit) answered
 * like every other error, with `headers` (they skip the routes' hooks).
 */
export function answerFrameworkErrors(
  headers: Record<string, string>,
): NonNullable<FastifyServerOptions["frameworkErrors"]> {
  return (err, request, reply) => sendError(request, reply.headers(headers), err);
}

/**
 * Fastify's `clientErrorHandler`: the raw answer to a request Node's HTTP
 * parser refused before Fastify saw it (not HTTP, headers too large, too
 * slow to arrive): the uniform error body with `headers`, then the
 * connection is closed. A connection the client reset gets nothing.
 */
export function answerClientErrors(
  headers: Record<string, string>,
): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  const headerLines = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  return (err, socket) => {
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    const code: ErrorCode =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? "REQUEST_TIMEOUT"
        : err.code === "HPE_HEADER_OVERFLOW"
          ? "REQUEST_HEADERS_TOO_LARGE"
          : "REQUEST_HTTP_INVALID";
    const { status, body } = described(code);
    const json = JSON.stringify(body);
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${headerLines}content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(json)}\r\nconnection: close\r\n\r\n${json}`,
      );
    }
    socket.destroy(err);
  };
}
