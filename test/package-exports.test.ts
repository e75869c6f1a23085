import { describe, expect, it } from "vitest";

describe("package exports", () => {
  it("spillway/pool is importable on its own, compiled, as other Node services use it", async () => {
    // Self-reference through package.json "exports", resolved to dist/ by Node.
    const { execFileSync } = await import("node:child_process");
    const out = execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        'const m = await import("spillway/pool"); console.log(Object.keys(m).sort().join(","));',
      ],
      { cwd: new URL("..", import.meta.url).pathname, encoding: "utf8" },
    );
    expect(out.trim().split(",")).toEqual(
      expect.arrayContaining(["AdaptivePool", "ConnectionBudget", "VegasLimit", "FixedLimit"]),
    );
  });
});
