import type { FastifyInstance } from "fastify";
import { SpillwayError } from "../errors/index.js";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * JSON bodies must be valid UTF-8 with well-formed strings (no lone
 * surrogates): anything else is refused with a code instead of being
 * silently altered into U+FFFD before it reaches the database. A key given
 * twice in one object is refused too: JSON.parse keeps the last and other
 * parsers (a proxy's, a WAF's) the first, so the body would not mean one
 * thing to every reader of it.
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
        const field = repeatedKey(text);
        if (field === undefined) done(null, value);
        else {
          const details = [{ field, problem: "must appear only once" }];
          done(new SpillwayError("REQUEST_INVALID", { details }), undefined);
        }
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

interface Container {
  /** The keys seen so far; undefined for an array. */
  keys: Set<string> | undefined;
  /** The current key, or the current index of an array. */
  at: string;
}

/**
 * The path (`a.b`, `list.0.c`) of the first key that appears twice in one
 * object of `text`, which must be valid JSON; undefined when none does. Keys
 * compare after unescaping, so `"a"` and `"\u0061"` are the same key.
 */
export function repeatedKey(text: string): string | undefined {
  const open: Container[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") open.push({ keys: new Set(), at: "" });
    else if (c === "[") open.push({ keys: undefined, at: "0" });
    else if (c === "}" || c === "]") open.pop();
    else if (c === ",") {
      const top = open.at(-1);
      if (top && !top.keys) top.at = String(Number(top.at) + 1);
    } else if (c === '"') {
      let end = i + 1;
      let escaped = false;
      while (end < text.length && text[end] !== '"') {
        if (text[end] === "\\") {
          escaped = true;
          end++;
        }
        end++;
      }
      const top = open.at(-1);
      if (top?.keys && nextNonSpace(text, end + 1) === ":") {
        const key = escaped
          ? (JSON.parse(text.slice(i, end + 1)) as string)
          : text.slice(i + 1, end);
        top.at = key;
        if (top.keys.has(key)) return open.map((o) => o.at).join(".");
        top.keys.add(key);
      }
      i = end;
    }
  }
  return undefined;
}

function nextNonSpace(text: string, from: number): string | undefined {
  let i = from;
  while (i < text.length && " \t\n\r".includes(text[i] as string)) i++;
  return text[i];
}
