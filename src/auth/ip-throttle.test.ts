import { describe, expect, it } from "vitest";
import { ManualClock } from "../util/index.js";
import { IpThrottle } from "./ip-throttle.js";

describe("IpThrottle", () => {
  it("allows the burst, then refills at the configured rate", () => {
    const clock = new ManualClock(1_000_000);
    const throttle = new IpThrottle({ burst: 3, refillPerSecond: 2, clock });
    for (let i = 0; i < 3; i++) throttle.take("10.0.0.1");
    expect(() => throttle.take("10.0.0.1")).toThrowError(
      expect.objectContaining({ code: "AUTH_RATE_LIMITED", retryAfterSeconds: 1 }),
    );
    // Other addresses have their own bucket; callers without one share one.
    throttle.take("10.0.0.2");
    for (let i = 0; i < 3; i++) throttle.take(null);
    expect(() => throttle.take(null)).toThrow();
    clock.advance(500);
    throttle.take("10.0.0.1");
    expect(() => throttle.take("10.0.0.1")).toThrow();
    clock.advance(10_000);
    for (let i = 0; i < 3; i++) throttle.take("10.0.0.1");
    expect(() => throttle.take("10.0.0.1")).toThrow();
  });

  it("takes back a refunded attempt, never above the burst", () => {
    const clock = new ManualClock(1_000_000);
    const throttle = new IpThrottle({ burst: 2, refillPerSecond: 1, clock });
    throttle.refund("10.0.0.1");
    throttle.take("10.0.0.1");
    throttle.take("10.0.0.1");
    expect(() => throttle.take("10.0.0.1")).toThrow();
    throttle.refund("10.0.0.1");
    throttle.take("10.0.0.1");
    expect(() => throttle.take("10.0.0.1")).toThrow();
  });
});
