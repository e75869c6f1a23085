import type { Lane } from "../pool/index.js";

/**
 * A named SQL statement of the catalog. `P` is its parameter tuple, `R` one
 * result row; the name doubles as the prepared-statement name.
 */
export interface Statement<P extends readonly unknown[], R> {
  readonly name: string;
  readonly text: string;
  readonly lane: Lane;
  /** Type carrier only; never set. */
  readonly types?: { params: P; row: R };
}

export function statement<P extends readonly unknown[], R>(
  name: string,
  lane: Lane,
  text: string,
): Statement<P, R> {
  return Object.freeze({ name, lane, text: text.trim() });
}
