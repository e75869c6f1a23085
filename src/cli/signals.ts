import { constants } from "node:os";

/**
 * The signals that stop `spillway serve`, each with a drain: SIGTERM (a
 * supervisor), SIGINT (Ctrl-C) and SIGHUP (the terminal closed; there is no
 * configuration to reload, and its default would end the process without a
 * drain, leaving the embedded database running in its own session).
 */
const stopSignals = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

/**
 * Calls `stop` on the first stop signal; returns the function that takes
 * this back. A second one of the same kind (Ctrl-C pressed again) ends the
 * process at once, its exit hook still stopping an embedded database; one
 * of another kind is ignored (a cluster worker gets the terminal's SIGINT
 * and its primary's SIGTERM for one stop).
 */
export function onStopSignal(stop: (signal: NodeJS.Signals) => void): () => void {
  const received = new Set<NodeJS.Signals>();
  const once = (signal: NodeJS.Signals) => {
    if (received.has(signal)) process.exit(exitStatus(signal));
    received.add(signal);
    if (received.size === 1) stop(signal);
  };
  for (const signal of stopSignals) process.on(signal, once);
  return () => {
    for (const signal of stopSignals) process.off(signal, once);
  };
}

/**
 * Until the caller's own drain is in place, a stop signal ends the process
 * at once, with the usual 128 + signal status. Ending it runs the exit hook
 * that stops an embedded database: one started in a session of its own is
 * not signalled with the caller, and would otherwise outlive a Ctrl-C during
 * start-up. Returns the function that takes this back.
 */
export function exitOnSignalUntilReady(): () => void {
  return onStopSignal((signal) => process.exit(exitStatus(signal)));
}

/** The status a process ended by `signal` has by convention. */
const exitStatus = (signal: NodeJS.Signals) => 128 + (constants.signals[signal] ?? 0);
