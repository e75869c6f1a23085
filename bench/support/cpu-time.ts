/**
 * Where CPU time goes during a benchmark run, from /proc (Linux; elsewhere
 * every sample is undefined and nothing is reported): this process's threads,
 * a PostgreSQL server's processes, and the machine's idle time.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** CPU milliseconds of one thread or process: in user space and in the kernel. */
export interface CpuMs {
  userMs: number;
  systemMs: number;
}

export interface CpuSample {
  /** By thread id, this process's threads. */
  threads: Map<number, CpuMs>;
  /** PostgreSQL's postmaster and its children together. */
  postgresMs: number;
  /** Idle (and iowait) milliseconds of the machine, over all cores. */
  machineIdleMs: number;
}

/** CPU milliseconds of the parts of a login (or a verify), per unit of work. */
export interface CpuShare {
  /** The threads that hash: the service's own, or libuv's pool for the async reference. */
  hashThreads: CpuMs;
  /** The service's main thread: HTTP, JSON, pg's protocol, the event loop. */
  eventLoopMs: number;
  /** Threads that started after the `since` sample: the load generator's worker. */
  loadGeneratorMs: number;
  /** The rest of this process: V8's compiler and garbage collector threads. */
  otherThreadsMs: number;
  postgresMs: number;
  /**
   * Time the machine's cores sat idle, per unit of work. (Busy time outside
   * these parts is not reported: /proc/stat counts in scheduler ticks and the
   * threads in exact run time, and the difference is within their error.)
   */
  idleMs: number;
}

const msPerTick = 10; // USER_HZ is 100 on Linux

/** One sample now; undefined without /proc. `postmasterPid` adds that PostgreSQL server. */
export function sampleCpu(postmasterPid?: number): CpuSample | undefined {
  try {
    const threads = new Map<number, CpuMs>();
    for (const id of readdirSync("/proc/self/task")) {
      const stat = readStat(`/proc/self/task/${id}/stat`);
      if (stat) threads.set(Number(id), cpuOf(stat));
    }
    const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "")
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return {
      threads,
      postgresMs: postmasterPid === undefined ? 0 : postgresCpuMs(postmasterPid),
      machineIdleMs: ((fields[3] ?? 0) + (fields[4] ?? 0)) * msPerTick,
    };
  } catch {
    return undefined;
  }
}

/**
 * What each part spent between two samples, per unit of work (`units`, e.g.
 * logins). `hashThreadIds` are the threads that hash; `since` is a sample
 * taken before the load generator started.
 */
export function cpuShare(
  from: CpuSample,
  to: CpuSample,
  units: number,
  hashThreadIds: readonly number[],
  since: CpuSample = from,
): CpuShare {
  const hash = new Set(hashThreadIds);
  const spent = (id: number): CpuMs => {
    const a = from.threads.get(id) ?? { userMs: 0, systemMs: 0 };
    const b = to.threads.get(id) ?? a;
    return { userMs: b.userMs - a.userMs, systemMs: b.systemMs - a.systemMs };
  };
  const hashThreads = { userMs: 0, systemMs: 0 };
  let eventLoopMs = 0;
  let loadGeneratorMs = 0;
  let otherThreadsMs = 0;
  for (const id of to.threads.keys()) {
    const { userMs, systemMs } = spent(id);
    if (hash.has(id)) {
      hashThreads.userMs += userMs;
      hashThreads.systemMs += systemMs;
    } else if (id === process.pid) eventLoopMs += userMs + systemMs;
    else if (!since.threads.has(id)) loadGeneratorMs += userMs + systemMs;
    else otherThreadsMs += userMs + systemMs;
  }
  const per = (ms: number) => Math.round((ms / Math.max(1, units)) * 1000) / 1000;
  return {
    hashThreads: { userMs: per(hashThreads.userMs), systemMs: per(hashThreads.systemMs) },
    eventLoopMs: per(eventLoopMs),
    loadGeneratorMs: per(loadGeneratorMs),
    otherThreadsMs: per(otherThreadsMs),
    postgresMs: per(to.postgresMs - from.postgresMs),
    idleMs: per(to.machineIdleMs - from.machineIdleMs),
  };
}

/** A /proc stat line's fields after the command name (which may hold spaces). */
function readStat(path: string): string[] | undefined {
  try {
    const stat = readFileSync(path, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined; // the thread or process ended between listing and reading
  }
}

/** utime and stime: the 14th and 15th fields of the line, the 12th and 13th after the name. */
function cpuOf(stat: string[]): CpuMs {
  return { userMs: Number(stat[11]) * msPerTick, systemMs: Number(stat[12]) * msPerTick };
}

/** The postmaster and every process whose parent it is (backends, checkpointer, WAL writer...). */
function postgresCpuMs(postmasterPid: number): number {
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(join("/proc", entry, "stat"));
    if (!stat || (Number(entry) !== postmasterPid && Number(stat[1]) !== postmasterPid)) continue;
    const { userMs, systemMs } = cpuOf(stat);
    total += userMs + systemMs;
  }
  return total;
}

/** The postmaster's pid from a data directory's postmaster.pid; undefined when absent. */
export function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
