import { monitorEventLoopDelay } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { LoopDelay } from "./loop-delay.js";

describe("LoopDelay", () => {
  it("reads the loop's delay without the monitor's own interval", async () => {
    const raw = monitorEventLoopDelay({ resolution: 10 });
    raw.enable();
    const delay = new LoopDelay(10);
    try {
      expect(delay.percentileMs(50)).toBe(0); // nothing recorded yet
      await new Promise((r) => setTimeout(r, 300));
      // Node's raw histogram reads ~10 ms on an idle loop (more on a busy
      // machine); the same loop through LoopDelay reads 10 ms less.
      const rawP50Ms = raw.percentile(50) / 1e6;
      expect(rawP50Ms).toBeGreaterThanOrEqual(10);
      expect(delay.percentileMs(50)).toBeLessThan(rawP50Ms - 7);
      const until = performance.now() + 60;
      while (performance.now() < until) {} // block the loop
      await new Promise((r) => setTimeout(r, 30));
      expect(delay.percentileMs(100)).toBeGreaterThan(40);
    } finally {
      raw.disable();
      delay.stop();
    }
  });
});
