// The password policy's worker thread: zxcvbn off the event loop, below its
// CPU priority. In: {id, password, related}; out: {id, strength}.
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { strengthEstimator } from "./password-strength.mjs";

if (workerData.nice > 0) {
  try {
    // Linux: /proc/thread-self names this thread; its id sets only its priority.
    setPriority(Number(readlinkSync("/proc/thread-self").split("/").pop()), workerData.nice);
  } catch {
    // Elsewhere it runs at the process's priority.
  }
}
const estimate = strengthEstimator(workerData.maxLength);
parentPort?.on("message", (message) => {
  parentPort?.postMessage({
    id: message.id,
    strength: estimate(message.password, message.related),
  });
});
