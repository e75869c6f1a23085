import { constants } from "node:os";

/**
 * Until the caller's own drain is in place, SIGINT and SIGTERM end the
 * process at once, with the usual 128 + signal status. Ending it runs the
 * exit hook that stops an embedded database: one started in a session of its
 * own is not signalled with the caller, and would otherwise outlive a Ctrl-C
 * during start-up. Returns the function that takes this back.
 */
export function exitOnSignalUntilReady(): () => void {
  const exit = (signal: NodeJS.Signals) => process.exit(128 + (constants.signals[signal] ?? 0));
  process.once("SIGINT", exit);
  process.once("SIGTERM", exit);
  return () => {
    process.off("SIGINT", exit);
    process.off("SIGTERM", exit);
  };
}
