import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DeviceTokens } from "./device-token.js";

describe("DeviceTokens", () => {
  const tokens = new DeviceTokens(randomBytes(32));

  it("accepts a token for the email it was issued for, and for no other", () => {
    const token = tokens.issue("ada@example.com");
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/);
    expect(tokens.validFor(token, "ada@example.com")).toBe(true);
    expect(tokens.validFor(token, "grace@example.com")).toBe(false);
  });

  it("refuses a token with its MAC altered, made up, or issued under another secret", () => {
    const token = tokens.issue("ada@example.com");
    const [nonce, mac = ""] = token.split(".");
    const flipped = `${nonce}.${mac[0] === "A" ? "B" : "A"}${mac.slice(1)}`;
    expect(tokens.validFor(flipped, "ada@example.com")).toBe(false);
    expect(tokens.validFor(`${nonce}`, "ada@example.com")).toBe(false);
    expect(tokens.validFor("not a token", "ada@example.com")).toBe(false);
    const other = new DeviceTokens(randomBytes(32)).issue("ada@example.com");
    expect(tokens.validFor(other, "ada@example.com")).toBe(false);
  });

  it("refuses a secret shorter than 32 bytes", () => {
    expect(() => new DeviceTokens(randomBytes(16))).toThrow(/32 bytes/);
  });
});
