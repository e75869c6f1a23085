import { describe, expect, it } from "vitest";
import { restartDelayMs } from "./serve-cluster.js";

describe("restartDelayMs", () => {
  it("replaces a worker that served at once, and backs off while replacements cannot start", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50].map(restartDelayMs)).toEqual([
      0, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });
});
