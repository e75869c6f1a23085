import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/**
 * The tight-loop reference: a worker thread per core verifying back to back
 * (verifySync), with no event loop between one verify and the next. It
 * reaches more than argon2's async API, whose cores wait for the event loop
 * between verifies, so it is the closer estimate of the machine's limit.
 * The workers start first; `run` then lets them loop for `durationS` and
 * resolves with their rate.
 */
export async function startVerifyLoop(encoded: string, password: string) {
  const flags = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  const workers = Array.from(
    { length: availableParallelism() },
    () =>
      new Worker(new URL("./verify-loop-worker.mjs", import.meta.url), {
        workerData: { encoded, password, flags: flags.buffer },
      }),
  );
  const threadIds = await Promise.all(
    workers.map((w) => new Promise<number>((resolve) => w.once("message", resolve))),
  );
  const exited = workers.map((w) => new Promise((resolve) => w.once("exit", resolve)));
  return {
    threadIds,
    done: () => Atomics.load(flags, 0),
    run: async (durationS: number): Promise<number> => {
      const started = performance.now();
      for (const w of workers) w.postMessage("go");
      await new Promise((resolve) => setTimeout(resolve, durationS * 1000));
      Atomics.store(flags, 1, 1);
      const rate = Atomics.load(flags, 0) / ((performance.now() - started) / 1000);
      await Promise.all(exited);
      return rate;
    },
  };
}
