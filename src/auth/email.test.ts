import { describe, expect, it } from "vitest";
import { normaliseEmail } from "./email.js";

describe("normaliseEmail", () => {
  it.each([
    ["  Alice@Example.COM ", "alice@example.com"],
    ["o'brien+tag@mail.example.org", "o'brien+tag@mail.example.org"],
    ["user@bücher.example", "user@xn--bcher-kva.example"],
    ["x@sub-domain.example.co", "x@sub-domain.example.co"],
  ])("%s -> %s", (input, expected) => {
    expect(normaliseEmail(input)).toBe(expected);
  });

  it.each([
    "",
    "plain",
    "@example.com",
    "a@",
    "a@example",
    "a@@example.com",
    "a b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a..b@example.com",
    "a@-example.com",
    "a@example-.com",
    "a@example.123",
    '"quoted"@example.com',
    "a@[127.0.0.1]",
    `${"a".repeat(65)}@example.com`,
    `a@${"b".repeat(250)}.com`,
    "a\u0000@example.com",
  ])("refuses %j", (input) => {
    expect(() => normaliseEmail(input)).toThrowError(
      expect.objectContaining({ code: "AUTH_EMAIL_INVALID" }),
    );
  });
});
