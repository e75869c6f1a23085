import { describe, expect, it } from "vitest";
import { threadNices } from "../../test/support/threads.js";
import { isSpillwayError } from "../errors/index.js";
import { normalisePassword, PasswordPolicy } from "./password-policy.js";

const strong = "violet-harbour-tractor-89";

async function refusal(policy: PasswordPolicy, password: string, related: string[] = []) {
  try {
    await policy.check(password, related);
    return undefined;
  } catch (err) {
    return isSpillwayError(err, "AUTH_PASSWORD_WEAK") ? err.details : err;
  }
}

/** Threads of this process at the given nice value. */
function threadsAtNice(nice: number): number {
  return [...threadNices().values()].filter((n) => n === nice).length;
}

describe("PasswordPolicy", () => {
  it("refuses short, long and guessable passwords with the reason, on the calling thread", async () => {
    const policy = new PasswordPolicy({ minScore: 2 });
    expect(await refusal(policy, "short")).toEqual({ reason: "too_short" });
    expect(await refusal(policy, "x".repeat(257))).toEqual({ reason: "too_long" });
    expect(await refusal(policy, "password123")).toMatchObject({ reason: "guessable" });
    // The user's own words count against the password.
    expect(await refusal(policy, "Grace.Hopper.1906")).toBeUndefined();
    expect(await refusal(policy, "Grace.Hopper.1906", ["grace.hopper.1906"])).toMatchObject({
      reason: "guessable",
    });
    expect(await refusal(policy, strong)).toBeUndefined();
  });

  it("judges a long password by its first 64 characters", async () => {
    const policy = new PasswordPolicy({ minScore: 2 });
    const tail = "Qm7#vR2k!Zp9wL4x".repeat(6);
    expect(await refusal(policy, tail)).toBeUndefined();
    // Only the head is estimated: a guessable head is refused whatever follows.
    expect(await refusal(policy, "a".repeat(64) + tail)).toMatchObject({ reason: "guessable" });
    expect(await refusal(policy, strong + "a".repeat(200))).toBeUndefined();
    // Look-alike characters up to the length limit: judged like any other.
    expect(await refusal(policy, "4@8(3691!|7$5+%2".repeat(16))).toBeUndefined();
  });

  it("estimates on a worker thread below the event loop's priority, with the same verdicts", async () => {
    const before = threadsAtNice(7);
    const policy = new PasswordPolicy({ minScore: 2, workerNice: 7 });
    try {
      expect(await refusal(policy, "password123")).toMatchObject({ reason: "guessable" });
      expect(await refusal(policy, strong)).toBeUndefined();
      expect(threadsAtNice(7)).toBe(before + 1);
    } finally {
      await policy.close();
    }
  });

  it("starts its worker thread ahead of the first check when told to", async () => {
    const before = threadsAtNice(6);
    const policy = new PasswordPolicy({ minScore: 2, workerNice: 6 });
    try {
      policy.start();
      // The thread sets its own nice value once it runs: no check was asked.
      for (let i = 0; i < 100 && threadsAtNice(6) === before; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(threadsAtNice(6)).toBe(before + 1);
      expect(await refusal(policy, strong)).toBeUndefined();
      expect(threadsAtNice(6)).toBe(before + 1);
    } finally {
      await policy.close();
    }
  });

  it("finishes checks in flight on this thread when the worker stops", async () => {
    const policy = new PasswordPolicy({ minScore: 2, workerNice: 0 });
    await policy.check(strong); // the worker is up
    const inFlight = Array.from({ length: 5 }, (_, i) =>
      refusal(policy, i % 2 ? strong : "qwertyuiop"),
    );
    await policy.close();
    expect(await Promise.all(inFlight)).toEqual([
      expect.objectContaining({ reason: "guessable" }),
      undefined,
      expect.objectContaining({ reason: "guessable" }),
      undefined,
      expect.objectContaining({ reason: "guessable" }),
    ]);
    expect(await refusal(policy, "qwertyuiop")).toMatchObject({ reason: "guessable" });
  });
});

describe("normalisePassword", () => {
  it("makes one password of its composed, decomposed and full-width forms (NFKC)", () => {
    const forms = ["Caf\u00e9 1", "Cafe\u0301 1", "\uff23\uff41\uff46\u00e9\u3000\uff11"];
    expect(new Set(forms.map(normalisePassword))).toEqual(new Set(["Caf\u00e9 1"]));
    expect(normalisePassword("\ufb01sh")).toBe("fish");
  });
});
