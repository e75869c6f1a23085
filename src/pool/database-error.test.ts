import { describe, expect, it } from "vitest";
import { isSpillwayError } from "../errors/index.js";
import { toDatabaseError } from "./database-error.js";

/** A driver error as pg raises it: an Error with PostgreSQL's SQLSTATE (or Node's errno code). */
const driverError = (code: string, message = "") => Object.assign(new Error(message), { code });

describe("toDatabaseError", () => {
  it.each([
    ["57P01", "DB_UNAVAILABLE"], // admin_shutdown
    ["ECONNREFUSED", "DB_UNAVAILABLE"],
    ["53300", "DB_CONNECTION_LIMIT"],
    ["57014", "DB_QUERY_TIMEOUT"],
    ["25006", "DB_READ_ONLY"], // read_only_sql_transaction
    ["53100", "DB_RESOURCES_EXHAUSTED"], // disk_full
    ["53200", "DB_RESOURCES_EXHAUSTED"], // out_of_memory
  ] as const)(
    "names SQLSTATE or errno %s as %s, keeping the driver's error as its cause",
    (code, expected) => {
      const err = driverError(code);
      const named = toDatabaseError(err);
      expect(isSpillwayError(named, expected)).toBe(true);
      expect((named as Error).cause).toBe(err);
    },
  );

  it("names a connection the driver saw end as DB_UNAVAILABLE", () => {
    const named = toDatabaseError(new Error("Connection terminated unexpectedly"));
    expect(isSpillwayError(named, "DB_UNAVAILABLE")).toBe(true);
  });

  it("leaves what the caller handles unchanged: a unique violation", () => {
    const err = driverError("23505", "duplicate key value violates unique constraint");
    expect(toDatabaseError(err)).toBe(err);
  });
});
