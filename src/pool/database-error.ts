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

/** PostgreSQL's out-of-resources errors a retry may outlive: disk_full, out_of_memory. */
const exhaustedCodes = new Set(["53100", "53200"]);

/**
 * Names a driver failure: "database down", "connection limit", "query too
 * slow", "no writes" (a replica after a failover, `default_transaction_read_only`)
 * and "out of disk or memory" are different errors with different codes, and
 * only the first says the server is gone: the others leave reads working.
 * Anything else (constraint violations, syntax) is returned unchanged for the
 * caller to handle.
 */
export function toDatabaseError(err: unknown): unknown {
  if (err instanceof SpillwayError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : "";
  if (code === "53300") return new SpillwayError("DB_CONNECTION_LIMIT", { cause: err });
  if (code === "57014") return new SpillwayError("DB_QUERY_TIMEOUT", { cause: err });
  if (code === "25006") return new SpillwayError("DB_READ_ONLY", { cause: err });
  if (typeof code === "string" && exhaustedCodes.has(code)) {
    return new SpillwayError("DB_RESOURCES_EXHAUSTED", { cause: err });
  }
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
