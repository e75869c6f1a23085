// One of the password hasher's threads: argon2id jobs one after another,
// below the event loop's CPU priority. Jobs queue on this thread's port, so
// the next one starts the moment the last ends, with no wait for the event
// loop in between. In: workerData {options, nice, begun}, then {password,
// encoded?} (a verify when `encoded` is given, else a hash); out: this
// thread's id (Linux; 0 elsewhere) once, then {value} or {error} per job, in
// order. `begun` is an Int32Array on shared memory, shared by the hasher's
// threads: each adds one as it begins a job.
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { hashSync, verifySync } from "@node-rs/argon2";

let threadId = 0;
try {
  // Linux: /proc/thread-self names this thread; its id sets only its priority.
  threadId = Number(readlinkSync("/proc/thread-self").split("/").pop());
  if (workerData.nice > 0) setPriority(threadId, workerData.nice);
} catch {
  // Elsewhere it runs at the process's priority.
}
const begun = new Int32Array(workerData.begun);
parentPort?.on("message", ({ password, encoded }) => {
  Atomics.add(begun, 0, 1);
  try {
    const value =
      encoded === undefined
        ? hashSync(password, workerData.options)
        : verifySync(encoded, password);
    parentPort?.postMessage({ value });
  } catch (err) {
    parentPort?.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
});
parentPort?.postMessage({ threadId });
