import { afterEach, describe, expect, it, vi } from "vitest";
import { isSpillwayError } from "../errors/index.js";
import { type HashTicket, PasswordHasher, type PasswordHasherConfig } from "./password-hasher.js";

const light = { memoryCostKib: 1024, timeCost: 1, parallelism: 1 };
/** Long enough (a few ms) that the test acts while the first hash runs. */
const slow = { memoryCostKib: 8192, timeCost: 3, parallelism: 1 };

const started: PasswordHasher[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((hasher) => hasher.close()));
});

/** A hasher whose threads stop after the test. */
function newHasher(config: PasswordHasherConfig): PasswordHasher {
  const hasher = new PasswordHasher(config);
  started.push(hasher);
  return hasher;
}

/** Hash slots on a clock that only moves when told, after one hash that took 20 ms on it. */
async function slotsAt20Ms(
  config: { queueTimeoutMs: number; queueTargetMs?: number; queueMax?: number },
  concurrency = 1,
) {
  const clock = { t: 0, now: () => clock.t };
  const hasher = newHasher({ concurrency, queueMax: 100, ...config, ...light, clock });
  const warm = hasher.hash("warm-up-pw");
  clock.t += 20;
  await warm;
  expect(hasher.serviceMs).toBe(20);
  return { hasher, clock };
}

describe("PasswordHasher", () => {
  it("hashes and verifies argon2id", async () => {
    const hasher = newHasher({
      concurrency: 2,
      queueMax: 10,
      queueTimeoutMs: 5000,
      ...light,
    });
    const encoded = await hasher.hash("correct horse");
    expect(encoded).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    expect(await hasher.verify(encoded, "correct horse")).toBe(true);
    expect(await hasher.verify(encoded, "wrong horse")).toBe(false);
  });

  it("knows when a stored hash needs new parameters", async () => {
    const old = newHasher({
      concurrency: 1,
      queueMax: 10,
      queueTimeoutMs: 5000,
      ...light,
    });
    const current = newHasher({
      concurrency: 1,
      queueMax: 10,
      queueTimeoutMs: 5000,
      ...light,
      timeCost: 2,
    });
    expect(current.needsRehash(await old.hash("pw-pw-pw-pw"))).toBe(true);
    expect(current.needsRehash(await current.hash("pw-pw-pw-pw"))).toBe(false);
    expect(current.needsRehash("not a hash")).toBe(true);
  });

  it("runs at most `concurrency` hashes and refuses beyond the queue at once", async () => {
    const hasher = newHasher({ concurrency: 1, queueMax: 2, queueTimeoutMs: 60_000, ...slow });
    const jobs = Array.from({ length: 3 }, () => hasher.hash("pw-pw-pw-pw"));
    expect(hasher.running).toBe(1);
    expect(hasher.waiting).toBe(2);
    const started = performance.now();
    const refused = await hasher.hash("pw-pw-pw-pw").catch((err: unknown) => err);
    expect(performance.now() - started).toBeLessThan(5);
    expect(isSpillwayError(refused, "HASH_SATURATED")).toBe(true);
    expect((refused as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    await Promise.all(jobs);
    expect(hasher.running + hasher.waiting).toBe(0);
  });

  it("posts a busy thread its next hash, which starts there without waiting for the event loop", async () => {
    const hasher = newHasher({ concurrency: 1, queueMax: 10, queueTimeoutMs: 60_000, ...light });
    const first = hasher.hash("pw-pw-pw-pw");
    const next = hasher.hash("next-pw");
    expect([hasher.running, hasher.waiting]).toEqual([1, 1]);
    // The event loop is held until the thread has begun both: it never
    // hears that `first` ended, so `next` began on the thread's own. Had it
    // waited in the queue for the loop, the count would stay at one.
    const until = performance.now() + 10_000;
    while (hasher.begun < 2 && performance.now() < until) {
      // busy: the loop hears nothing
    }
    expect(hasher.begun).toBe(2);
    expect(hasher.completed).toBe(0);
    await Promise.all([first, next]);
    expect(hasher.completed).toBe(2);
  });

  it("drops a waiter whose deadline passes before a hash slot frees", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const hasher = newHasher({
        concurrency: 1,
        queueMax: 10,
        queueTimeoutMs: 30,
        ...light,
      });
      const first = hasher.hash("pw-pw-pw-pw");
      const next = hasher.hash("next-pw"); // the thread's next: as good as started
      const late = hasher.hash("second-pw");
      expect([hasher.running, hasher.waiting]).toEqual([1, 2]);
      vi.advanceTimersByTime(31);
      await expect(late).rejects.toMatchObject({ code: "HASH_SATURATED" });
      expect(hasher.refused).toBe(1); // given up: counted
      await Promise.all([first, next]);
      expect(hasher.waiting).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("refuses at once what its measured hash time says cannot start in time", async () => {
    const heavy = { memoryCostKib: 65_536, timeCost: 4, parallelism: 1 };
    const hasher = newHasher({
      concurrency: 1,
      queueMax: 10,
      queueTimeoutMs: 20,
      ...heavy,
    });
    await hasher.hash("warm-up-pw"); // learns that one hash takes far longer than 20 ms
    expect(hasher.serviceMs).toBeGreaterThan(20);
    const running = hasher.hash("pw-pw-pw-pw");
    const started = performance.now();
    await expect(hasher.hash("second-pw")).rejects.toMatchObject({ code: "HASH_SATURATED" });
    expect(performance.now() - started).toBeLessThan(10);
    await running;
  });

  it("while overloaded admits fewer than two hashes per slot in front, and stays so for a second", async () => {
    const { hasher, clock } = await slotsAt20Ms({ queueTimeoutMs: 10_000, queueTargetMs: 10 });
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => "done",
        (err: unknown) => (isSpillwayError(err, "HASH_SATURATED") ? "refused" : "failed"),
      );

    // A burst: the queue may hold up to the burst tolerance.
    const burst = Array.from({ length: 5 }, () => outcome(hasher.hash("pw-pw-pw-pw")));
    expect(hasher.waiting).toBe(4);
    // Nobody started in a whole interval: the queue stands.
    clock.t += 100;
    const refused = outcome(hasher.hash("pw-pw-pw-pw"));
    expect(hasher.waiting).toBe(4); // 4 ahead on one slot: refused at once
    expect(await refused).toBe("refused");
    expect(await Promise.all(burst)).toEqual(Array(5).fill("done"));
    expect(hasher.overloaded).toBe(true);
    expect(hasher.refused).toBe(1);

    // Drained, but within a second of standing: one runs, one waits, the
    // rest are refused, however short the measured hash time.
    clock.t += 500;
    const held = Array.from({ length: 4 }, () => outcome(hasher.hash("pw-pw-pw-pw")));
    expect(await Promise.all(held)).toEqual(["done", "done", "refused", "refused"]);

    // The queue has not stood for 1.4 s, but it refused just now: demand
    // still exceeds capacity, and overload holds.
    clock.t += 900;
    const still = Array.from({ length: 4 }, () => outcome(hasher.hash("pw-pw-pw-pw")));
    expect(await Promise.all(still)).toEqual(["done", "done", "refused", "refused"]);

    // Tickets count as in front: with the slot idle, one ticket will run and
    // the next will wait behind it; a third is refused.
    const tickets = [hasher.admit(), hasher.admit()];
    expect(() => hasher.admit()).toThrow(expect.objectContaining({ code: "HASH_SATURATED" }));
    for (const ticket of tickets) ticket.release();

    // A second after the last refusal the burst tolerance is back.
    clock.t += 1001;
    expect(hasher.overloaded).toBe(false);
    const later = Array.from({ length: 5 }, () => outcome(hasher.hash("pw-pw-pw-pw")));
    expect(await Promise.all(later)).toEqual(Array(5).fill("done"));
  });

  it("learns the hash time from the mean of the first ten hashes, then an average", async () => {
    const clock = { t: 0, now: () => clock.t };
    const hasher = newHasher({
      concurrency: 1,
      queueMax: 10,
      queueTimeoutMs: 1000,
      ...light,
      clock,
    });
    const timed = async (ms: number) => {
      const hashing = hasher.hash("pw-pw-pw-pw");
      clock.t += ms;
      await hashing;
    };
    await timed(100); // a cold first hash
    expect(hasher.serviceMs).toBe(100);
    await timed(10);
    expect(hasher.serviceMs).toBe(55);
    for (let i = 0; i < 8; i++) await timed(10);
    expect(hasher.serviceMs).toBeCloseTo(19, 6); // the mean of ten
    await timed(30);
    expect(hasher.serviceMs).toBeCloseTo(0.9 * 19 + 0.1 * 30, 6);
  });

  it("while overloaded hashes on one core fewer, and on all of them once overload ends", async () => {
    const { hasher, clock } = await slotsAt20Ms({ queueTimeoutMs: 30 }, 2);
    expect(hasher.slots).toBe(2);
    const first = [hasher.hash("pw-pw-pw-pw"), hasher.hash("pw-pw-pw-pw")];
    expect(hasher.running).toBe(2);
    // Two running on two slots: the next two would start in 20 ms (within
    // 30), the one after them in 40: refused, and overload begins.
    const waiting = [hasher.hash("pw-pw-pw-pw"), hasher.hash("pw-pw-pw-pw")];
    await expect(hasher.hash("pw-pw-pw-pw")).rejects.toMatchObject({ code: "HASH_SATURATED" });
    expect(hasher.overloaded).toBe(true);
    expect(hasher.slots).toBe(1);
    await Promise.all(first);
    // The two waiting were posted to the threads as their next before
    // overload began: they run there. What comes now uses one slot.
    await Promise.all(waiting);
    const one = [hasher.hash("pw-pw-pw-pw"), hasher.hash("pw-pw-pw-pw")];
    expect([hasher.running, hasher.waiting]).toEqual([1, 1]);
    await Promise.all(one);

    clock.t += 1001;
    expect(hasher.overloaded).toBe(false);
    expect(hasher.slots).toBe(2);
    const two = [hasher.hash("pw-pw-pw-pw"), hasher.hash("pw-pw-pw-pw")];
    expect([hasher.running, hasher.waiting]).toEqual([2, 0]);
    await Promise.all(two);
  });

  it("admits with a ticket that holds its place until used or released", async () => {
    const { hasher } = await slotsAt20Ms({ queueTimeoutMs: 30 });
    const running = hasher.hash("pw-pw-pw-pw");
    const first = hasher.admit(); // would start in 20 ms: within 30
    // The queue is empty, but the first ticket will be ahead: 40 ms > 30.
    expect(() => hasher.admit()).toThrow(expect.objectContaining({ code: "HASH_SATURATED" }));
    first.release();
    const second = hasher.admit();
    const encoded = await running;
    expect(await second.verify(encoded, "pw-pw-pw-pw")).toBe(true);
    await expect(second.verify(encoded, "pw-pw-pw-pw")).rejects.toThrow(/already used/);
    // A used ticket no longer counts: there is room again.
    hasher.admit().release();
  });

  it("admits with priority past a full queue, and starts those hashes before the crowd's waiters", async () => {
    const hasher = newHasher({ concurrency: 1, queueMax: 3, queueTimeoutMs: 60_000, ...slow });
    const order: string[] = [];
    const hashAs = (name: string, ticket?: HashTicket) =>
      (ticket ? ticket.hash(`${name}-pw`) : hasher.hash(`${name}-pw`)).then(() => {
        order.push(name);
      });
    const crowd = ["running", "posted", "queued-1", "queued-2"].map((name) => hashAs(name));
    expect([hasher.running, hasher.waiting]).toEqual([1, 3]);
    // tryAdmit refuses without counting a refusal; admit counts it.
    expect(hasher.tryAdmit()).toBeUndefined();
    expect(hasher.refused).toBe(0);
    expect(() => hasher.admit()).toThrow(expect.objectContaining({ code: "HASH_SATURATED" }));
    expect(hasher.refused).toBe(1);
    // In front of a priority hash: the one running, the one posted, and the
    // priority ones before it; not the crowd's waiters.
    const first = hasher.admit({ priority: true });
    const second = hasher.admit({ priority: true });
    // Bounded too: the one posted and two held make queueMax.
    expect(() => hasher.admit({ priority: true })).toThrow(
      expect.objectContaining({ code: "HASH_SATURATED" }),
    );
    await Promise.all([...crowd, hashAs("priority-1", first), hashAs("priority-2", second)]);
    expect(hasher.priorityAdmitted).toBe(2);
    expect(order).toEqual([
      "running",
      "posted",
      "priority-1",
      "priority-2",
      "queued-1",
      "queued-2",
    ]);
  });

  it("holds the priority lane to the burst tolerance when not overloaded", async () => {
    const { hasher } = await slotsAt20Ms({ queueTimeoutMs: 50 });
    const running = hasher.hash("pw-pw-pw-pw");
    const posted = hasher.hash("next-pw");
    expect(hasher.overloaded).toBe(false);
    // In front: the one posted (20 ms), then its own turn: 40 ms <= 50.
    const first = hasher.admit({ priority: true });
    // A second would start after 60 ms: refused.
    expect(() => hasher.admit({ priority: true })).toThrow(
      expect.objectContaining({ code: "HASH_SATURATED" }),
    );
    first.release();
    await Promise.all([running, posted]);
  });

  it("absorbs a burst in the priority lane, and holds it to the CoDel target once it stands", async () => {
    const { hasher, clock } = await slotsAt20Ms({
      queueTimeoutMs: 1000,
      queueTargetMs: 50,
      queueMax: 10,
    });
    const crowd = ["running", "posted"].map((n) => hasher.hash(`${n}-pw`));
    // A burst: each waits behind the one posted and those before it, 40, 60
    // and 80 ms, within the burst tolerance though past the target.
    const burst = [1, 2, 3].map(() => hasher.admit({ priority: true }));
    const waiting = burst.map((ticket, i) => ticket.hash(`priority-${i}-pw`));
    expect(hasher.priorityAdmitted).toBe(3);
    // The lane's head has waited past the target for an interval: it stands.
    clock.t += 120;
    // The crowd's lane is another matter: there, one more is admitted.
    const crowdTicket = hasher.tryAdmit();
    expect(crowdTicket).toBeDefined();
    crowdTicket?.release();
    // Now only what would wait no longer than the target: 100 ms is refused.
    expect(() => hasher.admit({ priority: true })).toThrow(
      expect.objectContaining({ code: "HASH_SATURATED" }),
    );
    await Promise.all([...crowd, ...waiting]);
  });

  it("makes the dummy hash when ready: an unknown email's first verify costs one hash, as any", async () => {
    const hasher = newHasher({ concurrency: 1, queueMax: 10, queueTimeoutMs: 60_000, ...light });
    await hasher.ready();
    expect(hasher.completed).toBe(1);
    await hasher.admit().verifyDummy("whatever-it-is-9");
    await hasher.admit().verifyDummy("whatever-it-is-9");
    expect(hasher.completed).toBe(3);
  });

  it("fails what waits or was posted when closed, and hashes nothing after", async () => {
    const hasher = newHasher({ concurrency: 1, queueMax: 10, queueTimeoutMs: 60_000, ...slow });
    const jobs = Array.from({ length: 3 }, () => hasher.hash("pw-pw-pw-pw").catch((e) => e));
    expect([hasher.running, hasher.waiting]).toEqual([1, 2]);
    await hasher.close();
    const outcomes = await Promise.all(jobs);
    expect(outcomes.every((o) => o instanceof Error)).toBe(true);
    expect([hasher.running, hasher.waiting]).toEqual([0, 0]);
    await expect(hasher.hash("pw-pw-pw-pw")).rejects.toThrow(/closed/);
  });

  it("drops a waiter whose request was aborted", async () => {
    const hasher = newHasher({ concurrency: 1, queueMax: 10, queueTimeoutMs: 60_000, ...slow });
    const first = hasher.hash("pw-pw-pw-pw");
    const next = hasher.hash("next-pw"); // the thread's next: as good as started
    const controller = new AbortController();
    const waiting = hasher.hash("second-pw", controller.signal);
    expect(hasher.waiting).toBe(2);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: "HASH_SATURATED" });
    expect(hasher.waiting).toBeLessThanOrEqual(1);
    // The client went away: not a refusal.
    expect(hasher.refused).toBe(0);
    await Promise.all([first, next]);
  });
});
