import { describe, expect, it } from "vitest";
import { isSpillwayError } from "../errors/index.js";
import { resolveConfig } from "./resolve-config.js";

describe("resolveConfig", () => {
  it("uses defaults, frozen", () => {
    const config = resolveConfig({}, {});
    expect(config.port).toBe(8080);
    expect(config.databaseUrl).toBeNull();
    expect(config.argon2MemoryKib).toBe(19_456);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("takes flags over SPILLWAY_* over conventional variables over overrides", () => {
    expect(resolveConfig({ PORT: "1" }, {}, { port: 9 }).port).toBe(1);
    expect(resolveConfig({ PORT: "1", SPILLWAY_PORT: "2" }, {}).port).toBe(2);
    expect(resolveConfig({ PORT: "1", SPILLWAY_PORT: "2" }, { port: "3" }).port).toBe(3);
    expect(resolveConfig({}, {}, { port: 9 }).port).toBe(9);
    expect(resolveConfig({ DATABASE_URL: "postgres://x/y" }, {}).databaseUrl).toBe(
      "postgres://x/y",
    );
  });

  it("keeps 0 as a value", () => {
    expect(resolveConfig({ SPILLWAY_SESSION_CACHE_TTL_MS: "0" }, {}).sessionCacheTtlMs).toBe(0);
  });

  it("parses booleans from flags and variables", () => {
    expect(resolveConfig({}, { "cookie-secure": true }).cookieSecure).toBe(true);
    expect(resolveConfig({ SPILLWAY_THROTTLE_ENABLED: "false" }, {}).throttleEnabled).toBe(false);
  });

  it("trusts X-Forwarded-For only from proxies named by address", () => {
    const trust = (value: string) => resolveConfig({ SPILLWAY_TRUST_PROXY: value }, {}).trustProxy;
    expect(resolveConfig({}, {}).trustProxy).toBe(false);
    expect(trust("false")).toBe(false);
    expect(trust("10.0.0.0/8, 127.0.0.1,::1/128,loopback")).toEqual([
      "10.0.0.0/8",
      "127.0.0.1",
      "::1/128",
      "loopback",
    ]);
    const refusal = (value: string) => {
      try {
        trust(value);
        return "";
      } catch (err) {
        expect(isSpillwayError(err, "CONFIG_INVALID")).toBe(true);
        return (err as Error).message;
      }
    };
    // Everyone's header would be believed: any client could pick its address.
    expect(refusal("true")).toContain("give the addresses of the proxies in front");
    // A hop count cannot tell a proxy from a client connecting directly.
    expect(refusal("1")).toContain("give the proxies' addresses");
    expect(refusal("10.0.0.0/33,lb.internal,1.2.3.4/8/1")).toContain(
      "not an address, a CIDR range or loopback/linklocal/uniquelocal: 10.0.0.0/33, lb.internal, 1.2.3.4/8/1",
    );
  });

  it("refuses values that do not work together, and cookie names browsers refuse", () => {
    const problems = (flags: Record<string, string | boolean>) => {
      try {
        resolveConfig({}, flags);
        return "";
      } catch (err) {
        expect(isSpillwayError(err, "CONFIG_INVALID")).toBe(true);
        return (err as Error).message;
      }
    };
    expect(problems({ "cookie-name": "__Host-sid" })).toContain("needs --cookie-secure");
    expect(problems({ "cookie-name": "__Secure-sid" })).toContain("needs --cookie-secure");
    expect(problems({ "cookie-name": "__Host-sid", "cookie-secure": true })).toBe("");
    expect(problems({ "cookie-name": "sid;Domain=evil" })).toContain("expected a cookie name");
    expect(problems({ "cookie-name": "s id" })).toContain("expected a cookie name");
    expect(
      problems({ "session-ttl-seconds": "3600", "session-renew-after-seconds": "3600" }),
    ).toContain("--session-renew-after-seconds 3600 must be below --session-ttl-seconds 3600");
  });

  it("names every bad value at once", () => {
    try {
      resolveConfig(
        { SPILLWAY_POOL_MAX: "lots", PORT: "70000" },
        { "log-level": "loud", bogus: "1" },
      );
      expect.unreachable();
    } catch (err) {
      expect(isSpillwayError(err, "CONFIG_INVALID")).toBe(true);
      const message = (err as Error).message;
      expect(message).toContain('SPILLWAY_POOL_MAX="lots": expected a whole number');
      expect(message).toContain('PORT="70000": expected 0 to 65535');
      expect(message).toContain("--log-level");
      expect(message).toContain("unknown option --bogus");
    }
  });
});
