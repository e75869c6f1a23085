import autocannon from "autocannon";
import { round } from "./results.js";

export interface Load {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

/** One closed-loop autocannon run in a worker thread (off the server's event loop). */
export async function load(seconds: number, options: autocannon.Options): Promise<Load> {
  const result = await autocannon({ duration: seconds, workers: 1, ...options });
  return {
    rps: round(result.requests.average, 1),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** Worker-mode requests that log in as each of `emails` in turn (see next-login.cjs). */
export function loginRotation(emails: readonly string[], password: string): autocannon.Request[] {
  process.env.SPILLWAY_BENCH_LOGIN_BODIES = JSON.stringify(
    emails.map((email) => JSON.stringify({ email, password })),
  );
  return [{ setupRequest: new URL("./next-login.cjs", import.meta.url).pathname }];
}
