import { describe, expect, it } from "vitest";
import { LoopDelay } from "./loop-delay.js";

describe("LoopDelay", () => {
  it("reads an idle loop as no delay, not as the monitor's resolution", async () => {
    const delay = new LoopDelay(10);
    try {
      expect(delay.percentileMs(50)).toBe(0); // nothing recorded yet
      await new Promise((r) => setTimeout(r, 300));
      // Node's raw histogram reads ~10 ms here.
      expect(delay.percentileMs(50)).toBeLessThan(5);
      const until = performance.now() + 60;
      while (performance.now() < until) {} // block the loop
      await new Promise((r) => setTimeout(r, 30));
      expect(delay.percentileMs(100)).toBeGreaterThan(40);
    } finally {
      delay.stop();
    }
  });
});
