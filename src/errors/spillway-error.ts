import { type ErrorCode, errorCatalog } from "./catalog.js";

export interface SpillwayErrorOptions {
  message?: string;
  details?: unknown;
  cause?: unknown;
  /** Seconds a client should wait before retrying (sent as Retry-After). */
  retryAfterSeconds?: number;
}

/** The one error type Spillway raises on purpose: a stable code, an HTTP status, a cause. */
export class SpillwayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, options: SpillwayErrorOptions = {}) {
    const entry = errorCatalog[code];
    super(options.message ?? entry.message, { cause: options.cause });
    this.name = "SpillwayError";
    this.code = code;
    this.status = entry.status;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isSpillwayError(err: unknown, code?: ErrorCode): err is SpillwayError {
  return err instanceof SpillwayError && (code === undefined || err.code === code);
}
