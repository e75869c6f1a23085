import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../util/index.js";
import { type HashJob, HashThreads, type HashThreadsEvents } from "./hash-threads.js";

const light = { algorithm: 2, memoryCost: 1024, timeCost: 1, parallelism: 1 };
/** A hash long enough (~100 ms) that the test acts while it runs. */
const heavy = { ...light, memoryCost: 65_536, timeCost: 4 };

const started: HashThreads<HashJob>[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((threads) => threads.close()));
});

/** Threads that note what they tell their owner. */
function newThreads(count: number, options = light) {
  const told = { began: 0, ended: 0, stopped: 0 };
  const events: HashThreadsEvents<HashJob> = {
    began: () => told.began++,
    ended: () => told.ended++,
    stopped: () => told.stopped++,
  };
  const threads = new HashThreads<HashJob>({ count, options, nice: 0, clock: systemClock }, events);
  started.push(threads);
  return { threads, told };
}

/** A hash of `password` posted to the thread `pick` chooses among `slots`. */
function hashOn(threads: HashThreads<HashJob>, password: string, slots = 1) {
  const thread = threads.pick(slots);
  if (!thread) throw new Error("no thread with room");
  return {
    thread,
    answer: new Promise<string | boolean>((resolve, reject) =>
      threads.post(thread, { password, encoded: undefined, resolve, reject }),
    ),
  };
}

describe("HashThreads", () => {
  it("hashes and verifies on a thread of its own, and says when each job begins and ends", async () => {
    const { threads, told } = newThreads(1);
    await threads.ready();
    const encoded = (await hashOn(threads, "correct horse").answer) as string;
    expect(encoded).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    const thread = threads.pick(1);
    if (!thread) throw new Error("no thread");
    const verified = new Promise((resolve, reject) =>
      threads.post(thread, { password: "correct horse", encoded, resolve, reject }),
    );
    expect(await verified).toBe(true);
    expect(told).toEqual({ began: 2, ended: 2, stopped: 0 });
    expect(threads.begun).toBe(2);
  });

  it("fills idle threads first, then hands each busy one a next job, and no more", async () => {
    const { threads } = newThreads(2);
    await threads.ready();
    const jobs = Array.from({ length: 4 }, (_, i) => hashOn(threads, `pw-${i}`, 2));
    expect(new Set(jobs.slice(0, 2).map((j) => j.thread)).size).toBe(2);
    expect([threads.running, threads.posted]).toEqual([2, 2]);
    expect(threads.pick(2)).toBeUndefined();
    // A slot out of use takes nothing, however idle.
    expect(threads.pick(0)).toBeUndefined();
    await Promise.all(jobs.map((j) => j.answer));
    expect([threads.running, threads.posted]).toEqual([0, 0]);
  });

  it("fails what a stopped thread held, and starts its slot anew at the next job", async () => {
    const { threads, told } = newThreads(1, heavy);
    await threads.ready();
    const first = hashOn(threads, "pw-first");
    const next = hashOn(threads, "pw-next");
    expect(next.thread).toBe(first.thread);
    await first.thread.worker.terminate();
    await expect(first.answer).rejects.toThrow(/thread stopped/);
    await expect(next.answer).rejects.toThrow(/thread stopped/);
    expect(told.stopped).toBe(1);
    expect([threads.running, threads.posted]).toEqual([0, 0]);

    const again = hashOn(threads, "pw-again");
    expect(again.thread).not.toBe(first.thread);
    expect(await again.answer).toMatch(/^\$argon2id\$/);
  });

  it("takes no job once closed", async () => {
    const { threads } = newThreads(1);
    await threads.ready();
    await threads.close();
    expect(threads.pick(1)).toBeUndefined();
  });
});
