// One core's share of the tight-loop reference (verify-loop.ts): argon2id
// verifies back to back on this thread, with no event loop between them.
// In: workerData {encoded, password, flags}; flags is an Int32Array on
// shared memory: [verifies finished while running, stop]. Out: this thread's
// id (Linux; 0 elsewhere) when ready, then nothing until "go".
import { readlinkSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { verifySync } from "@node-rs/argon2";

const done = 0;
const stop = 1;
const flags = new Int32Array(workerData.flags);
let threadId = 0;
try {
  threadId = Number(readlinkSync("/proc/thread-self").split("/").pop());
} catch {
  // Not Linux: the benchmark reports no CPU breakdown anyway.
}
parentPort?.once("message", () => {
  while (Atomics.load(flags, stop) === 0) {
    verifySync(workerData.encoded, workerData.password);
    // A verify that ends after the stop is not counted: the run is over.
    if (Atomics.load(flags, stop) === 0) Atomics.add(flags, done, 1);
  }
  parentPort?.close();
});
parentPort?.postMessage(threadId);
