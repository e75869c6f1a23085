import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type CpuSample, cpuShare, postmasterPid, sampleCpu } from "../bench/support/cpu-time.js";

const sample = (threads: [number, number, number][], postgresMs = 0, idleMs = 0): CpuSample => ({
  threads: new Map(threads.map(([id, userMs, systemMs]) => [id, { userMs, systemMs }])),
  postgresMs,
  machineIdleMs: idleMs,
});

describe("cpuShare", () => {
  it("attributes each thread's time to its part, per unit of work", () => {
    const main = process.pid;
    const before = sample([
      [main, 0, 0],
      [11, 0, 0],
      [12, 0, 0],
      [20, 0, 0],
    ]);
    const from = sample(
      [
        [main, 100, 10],
        [11, 500, 100],
        [12, 400, 100],
        [20, 10, 0],
        [30, 5, 0],
      ],
      50,
      1000,
    );
    const to = sample(
      [
        [main, 300, 30],
        [11, 1500, 300],
        [12, 1400, 300],
        [20, 30, 0],
        [30, 65, 5],
      ],
      250,
      1200,
    );
    expect(cpuShare(from, to, 100, [11, 12], before)).toEqual({
      hashThreads: { userMs: 20, systemMs: 4 },
      eventLoopMs: 2.2,
      loadGeneratorMs: 0.65, // thread 30 started after `before`
      otherThreadsMs: 0.2,
      postgresMs: 2,
      idleMs: 2,
    });
  });

  it("counts a thread that ended before the last sample as spending nothing more", () => {
    const from = sample([[40, 100, 0]]);
    const to = sample([]);
    expect(cpuShare(from, to, 1, []).otherThreadsMs).toBe(0);
  });
});

describe("sampleCpu", () => {
  it.runIf(process.platform === "linux")("sees this thread's CPU time grow while it works", () => {
    const from = sampleCpu();
    // Busy until this process has had 300 ms of CPU, however long a shared
    // machine takes to give it (a wall-clock loop got 120 ms of 300 there).
    const start = process.cpuUsage();
    const until = performance.now() + 10_000;
    while (performance.now() < until) {
      const spent = process.cpuUsage(start);
      if (spent.user + spent.system >= 300_000) break;
    }
    const to = sampleCpu();
    if (!from || !to) throw new Error("no /proc sample on Linux");
    expect(cpuShare(from, to, 1, []).eventLoopMs).toBeGreaterThanOrEqual(150);
  });
});

describe("postmasterPid", () => {
  it("reads the first line of postmaster.pid, and is undefined without one", () => {
    const dir = mkdtempSync(join(tmpdir(), "spillway-postmaster-"));
    expect(postmasterPid(dir)).toBeUndefined();
    writeFileSync(join(dir, "postmaster.pid"), `4321\n${dir}\n1700000000\n5432\n`);
    expect(postmasterPid(dir)).toBe(4321);
  });
});
