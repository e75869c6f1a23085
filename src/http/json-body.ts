import type { FastifyInstance } from "fastify";
import { SpillwayError } from "../errors/index.js";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * JSON bodies must be valid UTF-8 with well-formed strings (no lone
 * surrogates): anything else is refused with a code instead of being
 * silently altered into U+FFFD before it reaches the database.
 */
export function useStrictJsonParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  // Only JSON: text/plain (parsed by default) or forms would let a cross-site
  // form post reach the API.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    // Bodies are read as sent: a compressed one would reach the parser as
    // its compressed bytes, or, mislabelled, be read as if it were not.
    const coding = request.headers["content-encoding"];
    if (coding !== undefined && coding.trim().toLowerCase() !== "identity") {
      done(new SpillwayError("REQUEST_UNSUPPORTED_MEDIA_TYPE"), undefined);
      return;
    }
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      done(new SpillwayError("REQUEST_ENCODING_INVALID"), undefined);
      return;
    }
    void parseJson(request, text, (err, value) => {
      if (err) {
        done(err, undefined);
      } else if (!allStringsWellFormed(value)) {
        done(new SpillwayError("REQUEST_ENCODING_INVALID"), undefined);
      } else {
        done(null, value);
      }
    });
  });
}

export function allStringsWellFormed(value: unknown, depth = 0): boolean {
  if (typeof value === "string") return value.isWellFormed();
  if (depth > 32 || value === null || typeof value !== "object") return true;
  for (const [key, item] of Object.entries(value)) {
    if (!key.isWellFormed() || !allStringsWellFormed(item, depth + 1)) return false;
  }
  return true;
}
