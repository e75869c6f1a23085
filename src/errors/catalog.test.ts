import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { errorCatalog } from "./catalog.js";

describe("the error catalog", () => {
  it("is the README's table of codes, each with its status", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const documented = Object.fromEntries(
      [...readme.matchAll(/^\| `([A-Z_]+)` +\| (\d{3}) +\|/gm)].map((m) => [m[1], Number(m[2])]),
    );
    const catalogued = Object.fromEntries(
      Object.entries(errorCatalog).map(([code, { status }]) => [code, status]),
    );
    expect(documented).toEqual(catalogued);
  });
});
