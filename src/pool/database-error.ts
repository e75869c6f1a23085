import { SpillwayError } from "../errors/index.js";

const unavailableCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
]);

/**
 * Names a driver failure: "database down", "connection limit" and "query too
 * slow" are different errors with different codes. Anything else (constraint
 * violations, syntax) is returned unchanged for the caller to handle.
 */
export function toDatabaseError(err: unknown): unknown {
  if (err instanceof SpillwayError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : "";
  if (code === "53300") return new SpillwayError("DB_CONNECTION_LIMIT", { cause: err });
  if (code === "57014") return new SpillwayError("DB_QUERY_TIMEOUT", { cause: err });
  if (
    (typeof code === "string" && unavailableCodes.has(code)) ||
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(
      message,
    )
  ) {
    return new SpillwayError("DB_UNAVAILABLE", { cause: err });
  }
  return err;
}
